using System.Text.Json.Nodes;
using Pretrain.Data.Datasets;
using Pretrain.Models.Text;
using Pretrain.Models.Weights;
using Pretrain.Training.Objectives;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Training.Tests;

[Collection("torch")]
public sealed class SftTaskTests
{
    private const int Pad = 7;

    // Prompt lengths 3, 1 and 2; the second is the longest (T = 5 inputs).
    private static readonly SftPair[] Pairs =
    [
        new([10, 11, 12, 20, 21], 3, 0, 0, 0),
        new([30, 40, 41, 42, 43, 44], 1, 0, 0, 1),
        new([50, 51, 60, 61], 2, 0, 0, 2),
    ];

    private static DecoderLm TinyDecoder()
    {
        torch.manual_seed(5);
        var model = new DecoderLm(new DecoderLmConfig { VocabSize = 64, MaxSeqLen = 16, EmbedDim = 16, NumLayers = 2, NumHeads = 2 });
        model.InitializeWeights(5);
        model.eval();
        return model;
    }

    [Fact]
    public void Layout_shifts_pads_and_masks_prompt_and_padding()
    {
        var (inputs, targets, t) = SftObjective.Layout(Pairs, Pad);
        const long X = CausalLmObjective.IgnoreIndex;
        Assert.Equal(5, t);
        Assert.Equal([10, 11, 12, 20, Pad, 30, 40, 41, 42, 43, 50, 51, 60, Pad, Pad], inputs);
        Assert.Equal([X, X, 20, 21, X, 40, 41, 42, 43, 44, X, 60, 61, X, X], targets);
        Assert.Equal(2 + 5 + 2, SftObjective.CountTargets(Pairs));
        Assert.Equal(targets.Count(x => x != X), SftObjective.CountTargets(Pairs));
    }

    [Fact]
    public void Loss_is_the_direct_response_cross_entropy_and_ignores_prompt_and_padding_logits()
    {
        using var scope = NewDisposeScope();
        var (_, targetIds, t) = SftObjective.Layout(Pairs, Pad);
        var targets = tensor(targetIds, [Pairs.Length, t]);
        var logits = randn(Pairs.Length, t, 64, generator: new Generator(3));
        double loss = SftObjective.LossSum(logits, targets).item<float>();

        // Direct: −log softmax(logits[b, j])[target] summed over positions whose target is a response token or eos.
        var l = logits.data<float>().ToArray();
        double expected = 0;
        for (int b = 0; b < Pairs.Length; b++)
        {
            var p = Pairs[b];
            for (int j = Math.Max(p.PromptLength, 1) - 1; j < p.Ids.Length - 1; j++)
            {
                var row = l.AsSpan(((b * t) + j) * 64, 64);
                double max = row.ToArray().Max(), sum = row.ToArray().Sum(x => Math.Exp(x - max));
                expected -= row[p.Ids[j + 1]] - max - Math.Log(sum);
            }
        }
        Assert.Equal(expected, loss, 3);

        double After(int b, int j)
        {
            var changed = logits.clone();
            changed[b, j] = changed[b, j] + randn(64, generator: new Generator(9)) * 5;
            return SftObjective.LossSum(changed, targets).item<float>();
        }
        Assert.Equal(loss, After(0, 0), 5);   // predicts prompt token 11
        Assert.Equal(loss, After(0, 1), 5);   // predicts prompt token 12
        Assert.Equal(loss, After(0, 4), 5);   // padding
        Assert.Equal(loss, After(2, 3), 5);   // padding
        Assert.NotEqual(loss, After(0, 2), 3);   // predicts response token 20
        Assert.NotEqual(loss, After(1, 4), 3);   // predicts the last id (eos position)
    }

    [Fact]
    public void Padding_in_a_batch_changes_no_row_loss_of_a_real_decoder()
    {
        using var model = TinyDecoder();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        double Loss(params SftPair[] rows)
        {
            var (inputs, targets) = SftObjective.Collate(rows, Pad, CPU);
            return SftObjective.LossSum(model.call(inputs), targets).item<float>();
        }
        double batched = Loss(Pairs);
        double separate = Pairs.Sum(p => Loss(p));
        Assert.Equal(separate, batched, 4);

        // A different prompt token changes the response loss (it is context), a different pad id does not.
        var other = Pairs[0] with { Ids = [10, 13, 12, 20, 21] };
        Assert.NotEqual(Loss(Pairs[0]), Loss(other), 4);
        var (i1, t1) = SftObjective.Collate(Pairs, 0, CPU);
        Assert.Equal(batched, SftObjective.LossSum(model.call(i1), t1).item<float>(), 4);
    }

    [Fact]
    public void Greedy_exact_match_accepts_the_models_own_continuation_only()
    {
        using var model = TinyDecoder();
        using var noGrad = no_grad();
        var ids = new List<int> { 3, 4, 5 };
        for (int k = 0; k < 4; k++)
        {
            using var scope = NewDisposeScope();
            ids.Add((int)model.call(tensor(ids.Select(x => (long)x).ToArray(), [1, ids.Count]))[0, -1].argmax().item<long>());
        }
        var own = new SftPair([.. ids], 3, 0, 0, 0);
        Assert.True(SftObjective.GreedyMatches(model, own, CPU));
        var wrongLast = own with { Ids = [.. ids[..^1], (ids[^1] + 1) % 64] };
        Assert.False(SftObjective.GreedyMatches(model, wrongLast, CPU));
    }

    private static string SftRecipe(TempDir dir, string name, int maxSteps, string extra = "", string? model = null)
    {
        var path = dir[name + ".yaml"];
        File.WriteAllText(path, $$$"""
            name: {{{name}}}
            {{{model ?? "model: {arch: gpt2, max_seq_len: 32, embed_dim: 32, num_layers: 2, num_heads: 2}"}}}
            objective: {kind: sft, exact_match_rows: 8}
            tokenizer: {kind: byte}
            data:
              train: {synthetic: {kind: sft, rows: 400, shards: 2, rows_per_group: 50, seed: 1}}
              eval: {fraction: 0.05, max_batches: 2}
              prefetch: 8
            optimizer: {lr: 3.0e-3, weight_decay: 0.0}
            schedule: {kind: constant, warmup_steps: 0}
            train: {max_steps: {{{maxSteps}}}, seq_len: 32, micro_batch_size: 16, threads: 1, log_every: 1, eval_every: {{{maxSteps}}}, checkpoint_every: 4, keep_last: 10}
            {{{extra}}}
            """);
        return path;
    }

    private static List<JsonObject> Metrics(string run) =>
        File.ReadLines(Path.Combine(run, "metrics.jsonl")).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();

    [Fact]
    public void A_tiny_sft_run_learns_the_synthetic_pairs()
    {
        using var dir = new TempDir();
        TinyRun.Run(SftRecipe(dir, "sft", 40), dir["run"]);
        var losses = Metrics(dir["run"]).Where(m => m.ContainsKey("loss")).Select(m => m["loss"]!.GetValue<double>()).ToList();
        Assert.Equal(40, losses.Count);
        double first = losses.Take(3).Average(), last = losses.TakeLast(5).Average();
        Assert.True(first > 4.5, $"byte-level loss should start near ln(320) ≈ 5.8, got {first}");
        Assert.True(last < 0.5 * first, $"response loss should at least halve in 40 steps: {first:F2} -> {last:F2}");
        var eval = Metrics(dir["run"]).Last(m => m.ContainsKey("eval_loss"));
        Assert.InRange(eval["eval_exact_match"]!.GetValue<double>(), 0, 1);
        Assert.True(eval["eval_loss"]!.GetValue<double>() < 0.6 * first);
    }

    [Fact]
    public void Lora_sft_trains_only_adapters_and_resumes_exactly()
    {
        using var dir = new TempDir();
        TinyRun.Run(SftRecipe(dir, "base", 4), dir["base"]);
        var baseStep = Path.Combine(dir["base"], "checkpoints", "step-00000004");
        var recipe = SftRecipe(dir, "lora", 8, model: "", extra:
            $"init: {{checkpoint: '{baseStep}'}}\nlora: {{rank: 2, alpha: 4, dropout: 0.1, targets: [q_proj, v_proj]}}");
        TinyRun.Run(recipe, dir["straight"]);
        using (var cts = new CancellationTokenSource())
            TinyRun.Run(recipe, dir["resumed"], observer: new StopAfter(5, cts), cancel: cts.Token);
        TinyRun.Run(recipe, dir["resumed"], resume: "auto");

        string Step(string run) => Path.Combine(dir[run], "checkpoints", "step-00000008");
        Assert.False(File.Exists(Path.Combine(Step("straight"), "model.safetensors")));
        var adapter = Safetensors.Load(Path.Combine(Step("straight"), "adapter_model.safetensors"));
        Assert.NotEmpty(adapter);
        Assert.All(adapter.Keys, k => Assert.Contains("lora_", k, StringComparison.Ordinal));
        var moments = Safetensors.Load(Path.Combine(Step("straight"), "optimizer.safetensors")).Keys.ToList();
        Assert.NotEmpty(moments);
        Assert.All(moments, k => Assert.Contains("lora_", k, StringComparison.Ordinal));
        Assert.Equal(File.ReadAllBytes(Path.Combine(Step("straight"), "adapter_model.safetensors")),
                     File.ReadAllBytes(Path.Combine(Step("resumed"), "adapter_model.safetensors")));
        JsonNode? State(string run, string key) => JsonNode.Parse(File.ReadAllText(Path.Combine(Step(run), "trainer_state.json")))![key];
        foreach (var key in new[] { "cursor", "tokens_seen", "last_eval" })
            Assert.Equal(State("straight", key)!.ToJsonString(), State("resumed", key)!.ToJsonString());
    }

    [Fact]
    public void Sft_on_an_encoder_is_refused_with_the_key_named()
    {
        using var dir = new TempDir();
        var path = SftRecipe(dir, "enc", 2, model: "model: {arch: bert, max_seq_len: 32, embed_dim: 32, num_layers: 2, num_heads: 2}");
        var e = Assert.Throws<Pretrain.Training.Recipes.RecipeException>(() => TinyRun.Run(path, dir["run"]));
        Assert.Contains("objective.kind", e.Message);
    }
}
