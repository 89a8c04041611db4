using System.Globalization;
using System.Text.Json.Nodes;

namespace Pretrain.Cli.Tests.Distributed;

/// <summary>
/// ZeRO-1 (train.zero: 1, docs/distributed.md "ZeRO-1") under the real mpirun on CPU: the same weights and optimizer
/// state as ZeRO-0, identical on every rank; a ZeRO-1 checkpoint (the whole state, gathered) resumes at another world
/// size and under ZeRO-0; clipping and a non-finite step agree across ranks. Tiny BERT classifier, one thread per
/// rank; 7 runs.
/// </summary>
[Collection("mpi")]
public sealed class ZeroTests
{
    // grad_clip 0: clipping off, so ZeRO-0 and ZeRO-1 do the same
    // elementwise arithmetic on the same sums (2 ranks: a + b either way) and must agree bitwise.
    private const string Classify = """
        name: zero-classify
        model: {arch: bert, max_seq_len: 16, embed_dim: 16, num_layers: 1, num_heads: 2, dropout: 0.0}
        objective: {kind: classify, pooling: mean, num_classes: 2}
        tokenizer: {kind: byte, eos_token: '[SEP]', special_tokens: ['[CLS]', '[MASK]', '[PAD]']}
        data:
          train: {synthetic: {kind: labelled-text, rows: 64, shards: 2, rows_per_group: 8, seed: 4}}
        optimizer: {lr: 5.0e-3}
        schedule: {kind: constant, warmup_steps: 0}
        train: {max_steps: 4, seq_len: 16, micro_batch_size: 3, threads: 1, log_every: 1, checkpoint_every: 2, grad_clip: 0.0}
        """;

    [ReferenceFact(ReferenceTool.Mpi)]
    public void Zero1_equals_zero0_bitwise_on_2_ranks_and_its_checkpoint_resumes_exactly_on_2_and_on_3_ranks()
    {
        ReferenceTools.Require(ReferenceTool.Mpi);
        using var dir = new TempDir();
        File.WriteAllText(dir["r.yaml"], Classify);
        var (code, output) = MpiPretrain.Run(2, dir.Path, "run", "r.yaml", "--run-dir", "z0", "--no-export");
        Assert.True(code == 0, output);
        (code, output) = MpiPretrain.Run(2, dir.Path, "run", "r.yaml", "--run-dir", "z1", "--no-export", "--set", "train.zero=1");
        Assert.True(code == 0, output);
        Assert.Contains("weights identical on all 2 ranks after step 4", output.Replace("\n", " "));
        Assert.Contains("ZeRO-1:", output);
        foreach (long step in new long[] { 2, 4 })
        {
            foreach (var file in new[] { "model.safetensors", "optimizer.safetensors" })
                Assert.True(MpiPretrain.SameBytes(Step(dir["z0"], step, file), Step(dir["z1"], step, file)), $"step {step}: {file} of ZeRO-1 differs from ZeRO-0's");
        }
        // Rank 0 holds its half of the moments: ⌈P/2⌉ of each, against all P under ZeRO-0.
        long full = StateBytes(dir["z0"]), shard = StateBytes(dir["z1"]);
        long parameters = full / 8;   // two fp32 moments
        Assert.Equal((parameters + 1) / 2 * 8, shard);

        // The ZeRO-1 checkpoint of step 2 resumed: on 2 ranks under ZeRO-1 it ends where the uninterrupted run does,
        // bitwise; on 3 ranks (a global batch of 3 × 3 from there: the batch is per rank) ZeRO-1, which loads only
        // each rank's shard of the state, ends where ZeRO-0, which loads all of it, does.
        string from = Path.Combine(dir["z1"], "checkpoints", "step-00000002");
        foreach (var (world, zero, run) in new[] { (2, "1", "w2z1"), (3, "1", "w3z1"), (3, "0", "w3z0") })
        {
            (code, output) = MpiPretrain.Run(world, dir.Path, "run", "r.yaml", "--resume", from, "--run-dir", run, "--no-export", "--set", $"train.zero={zero}");
            Assert.True(code == 0, output);
        }
        foreach (var file in new[] { "model.safetensors", "optimizer.safetensors" })
        {
            Assert.True(MpiPretrain.SameBytes(Step(dir["z1"], 4, file), Step(dir["w2z1"], 4, file)), $"{file} of the resumed ZeRO-1 run differs from the uninterrupted one's");
            // 3 ranks' reduce-scatter may add the three gradients in another order than their all-reduce: ≤ 1e-6, not bitwise.
            var (relative, maxAbs) = MpiPretrain.Compare(Step(dir["w3z0"], 4, file), Step(dir["w3z1"], 4, file));
            Assert.True(relative <= 1e-6, $"3 ranks, {file}: ZeRO-1 differs from ZeRO-0 by {relative:G3} relative, {maxAbs:G3} at most");
        }
    }

    /// <summary>
    /// 3 ranks, clipping on (grad_clip 0.01, eps 1 so that Adam's update follows the clipped scale) and lr 1e30, so
    /// step 1's update is clipped and the next steps' loss is not finite: under on_nonfinite skip both ZeRO settings
    /// log the same global gradient norm, skip the same steps on every rank and end with the same weights.
    /// </summary>
    [ReferenceFact(ReferenceTool.Mpi)]
    public void Clipping_and_skipped_nonfinite_steps_under_zero1_match_zero0_on_3_ranks()
    {
        ReferenceTools.Require(ReferenceTool.Mpi);
        using var dir = new TempDir();
        File.WriteAllText(dir["r.yaml"], Classify
            .Replace("optimizer: {lr: 5.0e-3}", "optimizer: {lr: 1.0e+30, eps: 1.0}")
            .Replace("max_steps: 4", "max_steps: 3").Replace("checkpoint_every: 2", "checkpoint_every: 3")
            .Replace("micro_batch_size: 3", "micro_batch_size: 2").Replace("grad_clip: 0.0", "grad_clip: 0.01, on_nonfinite: skip"));
        var rows = new Dictionary<string, List<JsonObject>>();
        foreach (var zero in new[] { "0", "1" })
        {
            var (code, output) = MpiPretrain.Run(3, dir.Path, "run", "r.yaml", "--run-dir", $"z{zero}", "--no-export", "--set", $"train.zero={zero}");
            Assert.True(code == 0, output);
            Assert.Contains("weights identical on all 3 ranks after step 3", output.Replace("\n", " "));
            rows[zero] = [.. File.ReadAllLines(Path.Combine(dir[$"z{zero}"], "metrics.jsonl")).Select(l => JsonNode.Parse(l)!.AsObject()).Where(o => o.ContainsKey("grad_norm"))];
        }
        for (int i = 0; i < 3; i++)
        {
            double n0 = Number(rows["0"][i]["grad_norm"]), n1 = Number(rows["1"][i]["grad_norm"]);
            if (i == 0)
            {
                Assert.True(n0 > 0.01, $"step 1's gradient norm {n0} is not above grad_clip: the test does not clip");
                Assert.True(Math.Abs(n0 - n1) <= 1e-6 * n0, $"step 1: gradient norm {n0} (ZeRO-0) vs {n1} (ZeRO-1)");
            }
            else
            {
                Assert.False(double.IsFinite(n0), $"step {i + 1}'s gradient norm {n0} is finite: the test does not reach a non-finite step");
            }
            Assert.Equal(rows["0"][i]["skipped_steps"]!.GetValue<double>(), rows["1"][i]["skipped_steps"]!.GetValue<double>());
        }
        Assert.Equal(2, rows["1"][2]["skipped_steps"]!.GetValue<double>());
        var (relative, maxAbs) = MpiPretrain.Compare(Step(dir["z0"], 3, "model.safetensors"), Step(dir["z1"], 3, "model.safetensors"));
        Assert.True(relative <= 1e-6, $"ZeRO-1's weights differ from ZeRO-0's by {relative:G3} relative, {maxAbs:G3} at most");
    }

    /// <summary>A metrics.jsonl number; NaN and ±∞ are written as strings.</summary>
    private static double Number(JsonNode? node) => node is JsonValue v && v.TryGetValue(out double d) ? d
        : double.Parse(node!.GetValue<string>(), CultureInfo.InvariantCulture);

    private static string Step(string runDir, long step, string file) => Path.Combine(runDir, "checkpoints", $"step-{step:D8}", file);

    private static long StateBytes(string runDir) =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(runDir, "summary.json")))!["optimizer_state_bytes"]!.GetValue<long>();
}
