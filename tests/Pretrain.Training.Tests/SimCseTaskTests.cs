using System.Globalization;
using Pretrain.Data.Datasets;
using Pretrain.Models.Weights;
using Pretrain.Training.Metrics;
using Pretrain.Training.Recipes;
using Pretrain.Training.Tasks;
using static TorchSharp.torch;

namespace Pretrain.Training.Tests;

[Collection("torch")]
public sealed class SimCseTaskTests
{
    private const double Tau = 0.05;

    /// <summary>A tiny SimCSE task built straight from a Recipe record (no validator, so dropout 0 is allowed).</summary>
    private static SimCseTask Build(TempDir dir, double dropout, string pooling)
    {
        var recipe = new Recipe
        {
            Name = "simcse-unit",
            Model = new ModelSection { Arch = "bert", MaxSeqLen = 32, EmbedDim = 16, NumLayers = 1, NumHeads = 2, Dropout = dropout },
            Objective = new ObjectiveSection { Kind = "simcse", Pooling = pooling, Temperature = Tau },
            Tokenizer = new TokenizerSection { Kind = "byte", EosToken = "[SEP]", SpecialTokens = ["[CLS]", "[MASK]", "[PAD]"] },
            Data = new DataSection
            {
                Train = new DataSplit { Synthetic = new SyntheticSection { Kind = "labelled-text", Rows = 40, Shards = 1, RowsPerGroup = 20, Seed = 5 } },
                Prefetch = 4,
            },
            Train = new TrainSection { SeqLen = 32, Seed = 11 },
        };
        var task = SimCseTask.Build(new TaskContext(recipe, dir.Path, CPU, null));
        task.Model.train();
        return task;
    }

    private static List<LabelledText> Rows(SimCseTask task, int n) => (List<LabelledText>)task.NextStep(1, n)[0].Samples;

    private static double[][] Rows(Tensor t)
    {
        var flat = t.to(float64).contiguous().data<double>().ToArray();
        int cols = (int)t.shape[1];
        return [.. Enumerable.Range(0, (int)t.shape[0]).Select(i => flat.AsSpan(i * cols, cols).ToArray())];
    }

    /// <summary>Σ_i −log(exp(cos(a_i, p_i)/τ) / Σ_k exp(cos(a_i, p_k)/τ)) in double precision (Gao et al. 2021, eq. 1).</summary>
    private static double ByHand(double[][] a, double[][] p)
    {
        static double Cos(double[] x, double[] y) =>
            x.Zip(y, (u, v) => u * v).Sum() / Math.Sqrt(x.Sum(u => u * u)) / Math.Sqrt(y.Sum(v => v * v));
        double total = 0;
        for (int i = 0; i < a.Length; i++)
        {
            var logits = p.Select(pk => Cos(a[i], pk) / Tau).ToArray();
            double max = logits.Max();
            total += max + Math.Log(logits.Sum(l => Math.Exp(l - max))) - logits[i];
        }
        return total;
    }

    /// <summary>The loss of 6 rows' two dropout views, with the views it was computed from (pooling mean: no MLP).</summary>
    private static (double Loss, double[][] A, double[][] P) LossAndViews()
    {
        using var dir = new TempDir();
        using var task = Build(dir, dropout: 0.1, pooling: "mean");
        using var scope = NewDisposeScope();
        manual_seed(7);
        var (sum, h1, h2) = task.Loss(Rows(task, 6));
        return (sum.item<float>(), Rows(h1), Rows(h2));
    }

    [Fact]
    public void Loss_equals_a_direct_reference_on_the_tasks_own_dropout_views()
    {
        var (actual, a, p) = LossAndViews();
        Assert.Equal(ByHand(a, p), actual, 3);
    }

    [ReferenceFact(ReferenceTool.PythonTorch)]
    public void Loss_equals_pytorch_cross_entropy_on_the_tasks_own_dropout_views()
    {
        // Independent reference: PyTorch's own cross_entropy over normalised similarities (Debian python3-torch).
        ReferenceTools.Require(ReferenceTool.PythonTorch);
        var (actual, a, p) = LossAndViews();
        string Json(double[][] m) => "[" + string.Join(",", m.Select(r => "[" + string.Join(",", r.Select(x => x.ToString("R", CultureInfo.InvariantCulture))) + "]")) + "]";
        var script = """
            import json, sys, torch
            import torch.nn.functional as F
            a = torch.tensor(json.loads(sys.argv[1]), dtype=torch.float64)
            p = torch.tensor(json.loads(sys.argv[2]), dtype=torch.float64)
            logits = F.normalize(a, dim=1) @ F.normalize(p, dim=1).T / float(sys.argv[3])
            print(repr(F.cross_entropy(logits, torch.arange(a.shape[0]), reduction='sum').item()))
            """;
        var (code, output) = ReferenceTools.RunPython(["-c", script, Json(a), Json(p), Tau.ToString("R", CultureInfo.InvariantCulture)]);
        Assert.True(code == 0, "python3-torch reference failed: " + output);
        Assert.Equal(double.Parse(output.Trim().Split('\n')[^1], CultureInfo.InvariantCulture), actual, 3);
    }

    [Fact]
    public void The_two_passes_differ_only_through_dropout()
    {
        using var dir = new TempDir();
        using (var noisy = Build(dir, dropout: 0.1, pooling: "cls"))
        using (NewDisposeScope())
        {
            var rows = Rows(noisy, 4);
            var (_, h1, h2) = noisy.Loss(rows);
            Assert.True((h1 - h2).abs().max().item<float>() > 1e-3, "dropout on: the two views must differ");
            noisy.Model.eval();
            var (_, e1, e2) = noisy.Loss(rows);
            Assert.Equal(0f, (e1 - e2).abs().max().item<float>());   // dropout off: identical
        }

        using var dir0 = new TempDir();
        using var task = Build(dir0, dropout: 0.0, pooling: "cls");   // train mode, but no dropout
        using var scope = NewDisposeScope();
        var (sum, v1, v2) = task.Loss(Rows(task, 5));
        Assert.Equal(0f, (v1 - v2).abs().max().item<float>());
        // With identical views each positive logit is exactly cos(z_i, z_i)/τ = 1/τ, so the loss is the analytical
        // Σ_i [−1/τ + log Σ_k exp(cos(z_i, z_k)/τ)] on the MLP's outputs z.
        var mlp = (nn.Module<Tensor, Tensor>)task.Model.named_children().Single(c => c.name == "mlp").module;
        var z = Rows(mlp.call(v1));
        Assert.Equal(ByHand(z, z), sum.item<float>(), 3);
    }

    [Fact]
    public void Gradients_reach_every_encoder_layer_and_the_mlp()
    {
        using var dir = new TempDir();
        using var task = Build(dir, dropout: 0.1, pooling: "cls");
        using var scope = NewDisposeScope();
        task.LossSum(task.NextStep(1, 4)[0]).backward();
        var grads = task.Model.named_parameters().ToList();
        Assert.Contains(grads, p => p.name.StartsWith("mlp.dense.", StringComparison.Ordinal));
        foreach (var (name, p) in grads.Where(p => !p.name.Contains("type_embed", StringComparison.Ordinal)))
            Assert.True(p.grad is not null && p.grad.abs().sum().item<float>() > 0, $"{name} got no gradient");
    }

    [Fact]
    public void A_tiny_run_lowers_the_loss_reports_eval_metrics_and_refuses_zero_dropout()
    {
        using var dir = new TempDir();
        var recipe = dir["simcse.yaml"];
        File.WriteAllText(recipe, """
            name: simcse-tiny
            model: {arch: bert, max_seq_len: 32, embed_dim: 32, num_layers: 1, num_heads: 2, dropout: 0.1}
            objective: {kind: simcse, pooling: mean, probe: knn, probe_train_rows: 40, probe_eval_rows: 20}
            tokenizer: {kind: byte, eos_token: '[SEP]', special_tokens: ['[CLS]', '[MASK]', '[PAD]']}
            data:
              train: {synthetic: {kind: labelled-text, rows: 200, shards: 2, rows_per_group: 25, seed: 3}}
              eval: {fraction: 0.2, max_batches: 2}
            optimizer: {lr: 3.0e-3, weight_decay: 0.0}
            schedule: {kind: constant, warmup_steps: 0}
            train: {max_steps: 24, seq_len: 32, micro_batch_size: 8, threads: 1, log_every: 1, eval_every: 24, checkpoint_every: 24}
            """);
        TinyRun.Run(recipe, dir["run"]);
        var log = MetricsLog.Read(Path.Combine(dir["run"], "metrics.jsonl"));
        var losses = log.Where(r => r["loss"] is not null).Select(r => r["loss"]!.GetValue<double>()).ToList();
        Assert.Equal(24, losses.Count);
        Assert.True(losses.Take(4).Average() > 2 * losses.TakeLast(4).Average(), $"loss did not fall: {string.Join(" ", losses)}");
        var evals = log.Where(r => r["eval_loss"] is not null).ToList();
        Assert.Equal(2, evals.Count);   // step 0 and step 24
        Assert.True(evals[1]["eval_loss"]!.GetValue<double>() < evals[0]["eval_loss"]!.GetValue<double>());
        Assert.All(evals, e => Assert.InRange(e["eval_probe_knn"]!.GetValue<double>(), 0, 1));
        Assert.All(evals, e => Assert.InRange(e["eval_alignment"]!.GetValue<double>(), 0, 4));
        Assert.All(evals, e => Assert.InRange(e["eval_uniformity"]!.GetValue<double>(), -4, 0));

        // The checkpoint is a bare BertModel an MLM/classify init can load; resume reloads it.
        var step = Path.Combine(dir["run"], "checkpoints", "step-00000024");
        Assert.Contains(Safetensors.Load(Path.Combine(step, "model.safetensors")).Keys, k => k.StartsWith("encoder.layer.0.", StringComparison.Ordinal));

        var bad = Assert.Throws<RecipeException>(() => RecipeLoader.Parse(File.ReadAllText(recipe).Replace("dropout: 0.1", "dropout: 0.0", StringComparison.Ordinal), "simcse.yaml"));
        Assert.Contains("model.dropout", bad.Message);
        Assert.Contains("SimCSE", bad.Message);
    }
}
