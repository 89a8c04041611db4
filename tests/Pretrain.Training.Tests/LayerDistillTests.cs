using System.Text.Json.Nodes;
using Pretrain.Models.Modules;
using Pretrain.Models.Text;
using Pretrain.Models.Weights;
using Pretrain.Training.Metrics;
using Pretrain.Training.Objectives;
using Pretrain.Training.Recipes;
using Pretrain.Training.Tasks;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Training.Tests;

/// <summary>
/// Distillation beyond logits: TinyBERT hidden-state MSE through a learned projection and MiniLM's last-layer
/// attention KL (values and gradients against PyTorch), the capture that feeds them, a bf16 teacher, and end-to-end
/// distill runs of a masked LM (with data.train.mix) and a classifier that learn, save the student and resume bitwise.
/// </summary>
[Collection("torch")]
public sealed class LayerDistillTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private const string LayerReference = """
        import json, sys, torch
        import torch.nn.functional as F
        d = json.load(open(sys.argv[1]))
        B, T, ds, dt, H = d["b"], d["t"], d["ds"], d["dt"], d["h"]
        f = lambda k, *shape: torch.tensor(d[k], dtype=torch.float64).reshape(*shape)
        hs = f("hs", B, T, ds).requires_grad_(); ht = f("ht", B, T, dt)
        w = f("w", dt, ds).requires_grad_(); bias = f("bias", dt).requires_grad_()
        ss = f("ss", B, H, T, T).requires_grad_(); st = f("st", B, H, T, T)
        m = torch.tensor(d["mask"]).reshape(B, T).bool()
        mse = F.mse_loss(F.linear(hs, w, bias)[m], ht[m])
        kl, n = 0, 0
        for b in range(B):   # padding keys and queries dropped, not masked
            k = m[b]
            lt = F.log_softmax(st[b][:, k][:, :, k], -1); ls = F.log_softmax(ss[b][:, k][:, :, k], -1)
            kl = kl + F.kl_div(ls, lt, log_target=True, reduction="sum"); n += H * int(k.sum())
        kl = kl / n
        (mse + kl).backward()
        g = lambda t: t.grad.flatten().tolist()
        print(json.dumps({"mse": mse.item(), "kl": kl.item(), "w": g(w), "bias": g(bias), "hs": g(hs), "ss": g(ss)}))
        """;

    [ReferenceFact(ReferenceTool.PythonTorch)]
    public void Hidden_mse_and_attention_kl_and_their_gradients_equal_pytorch()
    {
        ReferenceTools.Require(ReferenceTool.PythonTorch);
        const int b = 2, t = 5, ds = 6, dt = 8, h = 3;
        long[] mask = [1, 1, 1, 1, 1, 1, 1, 1, 0, 0];
        var random = new Random(11);
        float[] Draw(int n) => [.. Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 4 - 2))];
        var (hs, ht, w, bias, ss, st) = (Draw(b * t * ds), Draw(b * t * dt), Draw(dt * ds), Draw(dt), Draw(b * h * t * t), Draw(b * h * t * t));
        double mse, kl;
        Dictionary<string, float[]> grads;
        using (NewDisposeScope())
        {
            var hsT = tensor(hs, [b, t, ds]).requires_grad_();
            var wT = tensor(w, [dt, ds]).requires_grad_();
            var biasT = tensor(bias, [dt]).requires_grad_();
            var ssT = tensor(ss, [b, h, t, t]).requires_grad_();
            var maskT = tensor(mask, [b, t]);
            var keys = BidirectionalSelfAttention.KeyPaddingMask(maskT, ScalarType.Float32);   // what the model adds
            var mseT = LayerDistillLoss.HiddenMse(hsT, tensor(ht, [b, t, dt]), x => nn.functional.linear(x, wT, biasT), maskT);
            var klT = LayerDistillLoss.AttentionKl(ssT + keys, tensor(st, [b, h, t, t]) + keys, maskT);
            (mseT + klT).backward();
            (mse, kl) = (mseT.item<float>(), klT.item<float>());
            grads = new() { ["w"] = wT.grad!.data<float>().ToArray(), ["bias"] = biasT.grad!.data<float>().ToArray(), ["hs"] = hsT.grad!.data<float>().ToArray(), ["ss"] = ssT.grad!.data<float>().ToArray() };
        }
        using var dir = new TempDir();
        JsonArray Json(IEnumerable<float> v) => new([.. v.Select(x => (JsonNode)x)]);
        var input = new JsonObject
        {
            ["b"] = b, ["t"] = t, ["ds"] = ds, ["dt"] = dt, ["h"] = h,
            ["hs"] = Json(hs), ["ht"] = Json(ht), ["w"] = Json(w), ["bias"] = Json(bias), ["ss"] = Json(ss), ["st"] = Json(st),
            ["mask"] = new JsonArray([.. mask.Select(x => (JsonNode)x)]),
        };
        File.WriteAllText(dir["in.json"], input.ToJsonString());
        var (code, output) = ReferenceTools.RunPython(["-c", LayerReference, dir["in.json"]]);
        Assert.True(code == 0, output);
        var expected = JsonNode.Parse(output)!;
        Assert.Equal((double)expected["mse"]!, mse, 4);
        Assert.Equal((double)expected["kl"]!, kl, 5);
        Assert.True(kl > 0.05 && mse > 0.5);   // not 0 = 0
        foreach (var (name, actual) in grads)
        {
            var want = expected[name]!.AsArray().Select(v => (double)v!).ToArray();
            Assert.Equal(want.Length, actual.Length);
            for (int i = 0; i < want.Length; i++)
                Assert.True(Math.Abs(want[i] - actual[i]) <= 1e-5 + 1e-4 * Math.Abs(want[i]), $"d/d{name}[{i}]: {actual[i]} vs PyTorch {want[i]}");
        }
        Assert.Contains(grads["w"], g => g != 0);   // the projection learns
    }

    [Fact]
    public void A_capture_records_every_layer_and_leaves_the_output_unchanged()
    {
        using var scope = NewDisposeScope();
        var config = new EncoderLmConfig { VocabSize = 50, MaxSeqLen = 8, EmbedDim = 16, NumLayers = 3, NumHeads = 4, MlpHiddenDim = 32 };
        using var encoder = new EncoderLm(config);
        encoder.InitializeWeights(3);
        encoder.eval();
        var ids = randint(0, 50, new long[] { 2, 6 }, dtype: ScalarType.Int64, generator: new Generator(4));
        var mask = tensor(new long[] { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0 }, [2, 6]);
        var plain = encoder.call(ids, mask, null);
        var capture = new LayerCapture { LastAttention = true };
        var captured = encoder.forward(ids, mask, null, capture);
        Assert.True(plain.allclose(captured, rtol: 1e-5, atol: 1e-6), "the explicit attention differs from the fused kernel");
        Assert.Equal(4, capture.Hidden.Count);                                  // embeddings + 3 blocks
        Assert.True(capture.Hidden[^1].equal(captured).all().item<bool>());          // post-LN: the last block's output is the output
        Assert.Equal(new long[] { 2, 4, 6, 6 }, capture.AttentionScores!.shape);
        var probs = nn.functional.softmax(capture.AttentionScores, -1);
        Assert.True(probs.sum(-1).allclose(ones(2, 4, 6), atol: 1e-5));
        Assert.True(probs[1, .., .., 4..].abs().max().item<float>() < 1e-6);    // padding keys get nothing
        Assert.Same(mask, capture.TokenMask);
    }

    [Fact]
    public void The_projection_trains_with_the_student_the_teacher_gets_no_gradient_and_bad_maps_are_one_line()
    {
        using var dir = new TempDir();
        var teacher = MlmTeacher(dir);
        var recipe = RecipeLoader.LoadFile(MlmStudent(dir, teacher, mix: false));
        using var task = (DistillTask)TrainingTasks.Create(new TaskContext(recipe, dir["s"], CPU, null));
        var names = task.Model.named_parameters().Select(p => p.name).ToList();
        Assert.Contains("distill_hidden_proj.weight", names);
        Assert.Contains("encoder.tok_embed.weight", names);                     // the student's own names are kept
        Assert.Equal(new long[] { 16, 8 }, task.Projection!.weight!.shape);     // d_s 8 → d_t 16
        using (NewDisposeScope())
        {
            var batch = task.NextStep(1, 4)[0];
            task.LossSum(batch).backward();
            Assert.True(task.Projection.weight!.grad!.abs().sum().item<float>() > 0);
            Assert.All(task.Teacher.parameters(), p => Assert.True(p.grad is null));
        }
        task.Model.eval();   // the wrapper reaches the student's own flag
        Assert.All(task.Model.modules(), m => Assert.False(m.training));

        RecipeException Refused(params string[] sets) =>
            Assert.Throws<RecipeException>(() => TrainingTasks.Create(new TaskContext(RecipeLoader.LoadFile(MlmStudent(dir, teacher, mix: false), sets), dir["x"], CPU, null)));
        Assert.Contains("objective.layer_map must list 1 teacher layers", Refused("objective.layer_map=[3]").Message, StringComparison.Ordinal);
        Assert.Contains("has 2 heads and the student 4", Refused("model.num_heads=4").Message, StringComparison.Ordinal);
        using var mapped = (DistillTask)TrainingTasks.Create(new TaskContext(RecipeLoader.LoadFile(MlmStudent(dir, teacher, mix: false), ["objective.layer_map=[1]"]), dir["y"], CPU, null));
        Assert.Contains("teacher layers [1]", mapped.Describe, StringComparison.Ordinal);
        Assert.Contains("teacher layers [2]", task.Describe, StringComparison.Ordinal);   // default i·k, k = 2
    }

    [Fact]
    public void A_decoder_student_gets_hidden_state_transfer_and_attention_transfer_is_refused_for_decoders()
    {
        using var dir = new TempDir();
        TinyRun.Run(TinyRun.Recipe(dir, "teacher", maxSteps: 4), dir["teacher-run"], ["train.checkpoint_every=4", "train.eval_every=100"]);
        var path = TinyRun.Recipe(dir, "student");
        string[] sets = ["objective.kind=distill", $"objective.teacher={dir["teacher-run"]}", "objective.hidden_weight=2", "model.embed_dim=8", "model.num_layers=1", "model.dropout=0.1"];
        using var task = (DistillTask)TrainingTasks.Create(new TaskContext(RecipeLoader.LoadFile(path, sets), dir["s"], CPU, null));
        Assert.Equal(new long[] { 16, 8 }, task.Projection!.weight!.shape);
        using (NewDisposeScope())
        {
            task.LossSum(task.NextStep(1, 4)[0]).backward();
            Assert.True(task.Projection.weight!.grad!.abs().sum().item<float>() > 0);
            Assert.All(task.Teacher.parameters(), p => Assert.True(p.grad is null));
        }
        task.Model.eval();
        Assert.All(task.Model.modules(), m => Assert.False(m.training));   // DecoderLm's own flag (its dropout) included

        var e = Assert.Throws<RecipeException>(() => RecipeLoader.LoadFile(path, [.. sets, "objective.attention_weight=1", "objective.teacher_dtype=fp16"]));
        Assert.Contains("objective.attention_weight transfers an encoder's self-attention", e.Message, StringComparison.Ordinal);
        Assert.Contains("objective.teacher_dtype must be one of float32, bf16", e.Message, StringComparison.Ordinal);
        Assert.Contains("applies to objective.kind distill", Assert.Throws<RecipeException>(() => RecipeLoader.LoadFile(path, ["objective.hidden_weight=1"])).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_bf16_teacher_holds_half_the_bytes_and_its_kl_stays_within_2_percent_of_float32()
    {
        using var dir = new TempDir();
        var teacher = MlmTeacher(dir);
        var path = MlmStudent(dir, teacher, mix: false);
        string[] soft = ["objective.alpha=1", "objective.hidden_weight=0", "objective.attention_weight=0"];
        (double Loss, long Bytes, ScalarType Dtype) Measure(params string[] sets)
        {
            using var task = (DistillTask)TrainingTasks.Create(new TaskContext(RecipeLoader.LoadFile(path, [.. soft, .. sets]), dir["t"], CPU, null));
            var bytes = task.Teacher.parameters().Sum(p => p.numel() * p.element_size());
            var dtype = task.Teacher.parameters().First().dtype;
            Assert.All(task.Teacher.parameters(), p => Assert.False(p.requires_grad));
            using var scope = NewDisposeScope();
            return (task.LossSum(task.NextStep(1, 8)[0]).item<float>(), bytes, dtype);
        }
        var f32 = Measure("objective.teacher_dtype=float32");
        var b16 = Measure("objective.teacher_dtype=bf16");
        Assert.Equal(ScalarType.Float32, f32.Dtype);
        Assert.Equal(ScalarType.BFloat16, b16.Dtype);
        Assert.Equal(f32.Bytes, 2 * b16.Bytes);
        Assert.True(Math.Abs(b16.Loss - f32.Loss) <= 0.02 * f32.Loss, $"T²·KL {b16.Loss:G6} (bf16 teacher) vs {f32.Loss:G6} (float32)");
        output.WriteLine($"T²·KL sum: float32 teacher {f32.Loss:G7}, bf16 teacher {b16.Loss:G7}; teacher bytes {f32.Bytes} vs {b16.Bytes}");
        Assert.NotEqual(f32.Loss, b16.Loss);   // the bf16 forward did run
        Assert.Equal(ScalarType.BFloat16, Measure("train.precision=bf16-mixed").Dtype);   // the default follows the run's precision
        Assert.Equal(ScalarType.Float32, Measure().Dtype);
    }

    [Fact]
    public void Mlm_distill_with_layer_transfer_and_a_data_mix_learns_saves_the_student_and_resumes_bitwise()
    {
        using var dir = new TempDir();
        var teacher = MlmTeacher(dir);
        var recipe = MlmStudent(dir, teacher, mix: true);
        var (straight, resumed) = StraightAndResumed(dir, recipe);
        var step = Path.Combine(straight, "checkpoints", "step-00000010");
        foreach (var file in new[] { "model.safetensors", DistillTask.ProjectionFile, "optimizer.safetensors" })
            Assert.Equal(File.ReadAllBytes(Path.Combine(step, file)), File.ReadAllBytes(Path.Combine(resumed, "checkpoints", "step-00000010", file)));
        Assert.Equal(Losses(straight), Losses(resumed));
        var losses = Losses(straight);
        output.WriteLine("mlm distill loss: " + string.Join(", ", losses.Select(l => l.ToString("G4"))));
        Assert.True(losses.TakeLast(3).Average() < 0.8 * losses[0], $"loss {string.Join(", ", losses.Select(l => l.ToString("G4")))}");

        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(step, "config.json")))!;
        Assert.Equal(1, (int)config["num_hidden_layers"]!);   // the student's, not the teacher's 2 × 16
        Assert.Equal(8, (int)config["hidden_size"]!);
        Assert.DoesNotContain(Safetensors.Load(Path.Combine(step, "model.safetensors")).Keys, k => k.Contains("distill", StringComparison.Ordinal) || k.Contains("hidden_proj", StringComparison.Ordinal));
        var projection = Safetensors.Load(Path.Combine(step, DistillTask.ProjectionFile));
        Assert.Equal(new long[] { 16, 8 }, projection["hidden_proj.weight"].shape);
        Assert.Contains("distill_hidden_proj.weight.exp_avg", Safetensors.Load(Path.Combine(step, "optimizer.safetensors")).Keys);
        var state = JsonNode.Parse(File.ReadAllText(Path.Combine(step, DistillTask.StateFile)))!;
        Assert.Equal("float32", (string)state["teacher_dtype"]!);
        Assert.Equal(2, (int)state["layer_map"]![0]!);
    }

    [Fact]
    public void Classify_distill_with_layer_transfer_learns_resumes_bitwise_and_refuses_a_data_mix()
    {
        using var dir = new TempDir();
        var teacherRecipe = ClassifyRecipe(dir, "teacher", "{kind: classify, pooling: mean, num_classes: 2}", "embed_dim: 16, num_layers: 2", maxSteps: 8);
        TinyRun.Run(teacherRecipe, dir["teacher-run"]);
        var recipe = ClassifyRecipe(dir, "student",
            $"{{kind: distill, task: classify, teacher: '{dir["teacher-run"]}', pooling: mean, num_classes: 2, hidden_weight: 1, attention_weight: 1}}", "embed_dim: 8, num_layers: 1", maxSteps: 10);
        var (straight, resumed) = StraightAndResumed(dir, recipe);
        foreach (var file in new[] { "model.safetensors", DistillTask.ProjectionFile, "optimizer.safetensors" })
            Assert.Equal(File.ReadAllBytes(Path.Combine(straight, "checkpoints", "step-00000010", file)), File.ReadAllBytes(Path.Combine(resumed, "checkpoints", "step-00000010", file)));
        var losses = Losses(straight);
        Assert.Equal(losses, Losses(resumed));
        output.WriteLine("classify distill loss: " + string.Join(", ", losses.Select(l => l.ToString("G4"))));
        Assert.True(losses.TakeLast(3).Average() < 0.8 * losses[0], $"loss {string.Join(", ", losses.Select(l => l.ToString("G4")))}");
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(straight, "checkpoints", "step-00000010", "config.json")))!;
        Assert.Equal(8, (int)config["hidden_size"]!);

        var mixed = File.ReadAllText(recipe).Replace("train: {synthetic: {kind: labelled-text, rows: 80, shards: 2, rows_per_group: 10, seed: 4}}",
            "train: {mix: [{synthetic: {kind: labelled-text, rows: 40, shards: 1, rows_per_group: 10, seed: 4}, weight: 1}]}", StringComparison.Ordinal);
        File.WriteAllText(dir["mixed.yaml"], mixed);
        var e = Assert.Throws<RecipeException>(() => RecipeLoader.LoadFile(dir["mixed.yaml"]));
        Assert.Contains("data.train.mix", e.Message, StringComparison.Ordinal);
        Assert.Contains("'distill of classify' reads one dataset", e.Message, StringComparison.Ordinal);
    }

    /// <summary>A 2-layer, width-16, 2-head BERT trained by masked LM for 6 steps: the teacher's run folder.</summary>
    private static string MlmTeacher(TempDir dir)
    {
        var path = dir["teacher.yaml"];
        File.WriteAllText(path, $$$"""
            name: teacher
            model: {arch: bert, max_seq_len: 16, embed_dim: 16, num_layers: 2, num_heads: 2, dropout: 0.0}
            objective: {kind: mlm}
            {{{Tokenizer}}}
            data:
              train: {synthetic: {kind: text, rows: 60, shards: 1, rows_per_group: 20, seed: 2}}
            optimizer: {lr: 3.0e-3}
            train: {max_steps: 6, seq_len: 16, micro_batch_size: 4, threads: 1, log_every: 1, checkpoint_every: 6}
            """);
        TinyRun.Run(path, dir["teacher-run"]);
        return dir["teacher-run"];
    }

    /// <summary>A 1-layer, width-8 student of <paramref name="teacher"/>: masked-LM distill with hidden and attention transfer.</summary>
    private static string MlmStudent(TempDir dir, string teacher, bool mix)
    {
        var path = dir[mix ? "student-mix.yaml" : "student.yaml"];
        var train = mix
            ? "{mix: [{synthetic: {kind: text, rows: 60, shards: 1, rows_per_group: 20, seed: 2}, weight: 0.7}, {synthetic: {kind: text, rows: 40, shards: 1, rows_per_group: 10, seed: 9}, weight: 0.3}]}"
            : "{synthetic: {kind: text, rows: 60, shards: 1, rows_per_group: 20, seed: 2}}";
        File.WriteAllText(path, $$$"""
            name: student
            model: {arch: bert, max_seq_len: 16, embed_dim: 8, num_layers: 1, num_heads: 2, dropout: 0.1}
            objective: {kind: distill, task: mlm, teacher: '{{{teacher}}}', hidden_weight: 1, attention_weight: 1}
            {{{Tokenizer}}}
            data:
              train: {{{train}}}
              prefetch: 4
            optimizer: {lr: 1.0e-2}
            schedule: {kind: constant, warmup_steps: 0}
            train: {max_steps: 10, seq_len: 16, micro_batch_size: 4, grad_accum_steps: 2, threads: 1, log_every: 1, checkpoint_every: 5, keep_last: 5}
            """);
        return path;
    }

    private const string Tokenizer = "tokenizer: {kind: byte, eos_token: '[SEP]', special_tokens: ['[CLS]', '[MASK]', '[PAD]']}";

    private static string ClassifyRecipe(TempDir dir, string name, string objective, string model, int maxSteps)
    {
        var path = dir[name + ".yaml"];
        File.WriteAllText(path, $$$"""
            name: {{{name}}}
            model: {arch: bert, max_seq_len: 16, {{{model}}}, num_heads: 2, dropout: 0.1}
            objective: {{{objective}}}
            {{{Tokenizer}}}
            data:
              train: {synthetic: {kind: labelled-text, rows: 80, shards: 2, rows_per_group: 10, seed: 4}}
              prefetch: 4
            optimizer: {lr: 1.0e-2}
            schedule: {kind: constant, warmup_steps: 0}
            train: {max_steps: {{{maxSteps}}}, seq_len: 16, micro_batch_size: 4, threads: 1, log_every: 1, checkpoint_every: 5, keep_last: 5}
            """);
        return path;
    }

    /// <summary>The recipe run straight, and run again stopped after step 6 (checkpoint 5) and resumed.</summary>
    private static (string Straight, string Resumed) StraightAndResumed(TempDir dir, string recipe)
    {
        TinyRun.Run(recipe, dir["straight"]);
        using (var cts = new CancellationTokenSource())
            TinyRun.Run(recipe, dir["resumed"], observer: new StopAfter(6, cts), cancel: cts.Token);
        TinyRun.Run(recipe, dir["resumed"], resume: "auto");
        return (dir["straight"], dir["resumed"]);
    }

    private static List<double> Losses(string run) =>
        [.. MetricsLog.Read(Path.Combine(run, "metrics.jsonl")).Where(r => r.ContainsKey("loss")).Select(r => (double)r["loss"]!)];
}
