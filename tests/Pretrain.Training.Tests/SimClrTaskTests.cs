using Pretrain.Models.Weights;
using Pretrain.Training.Metrics;

namespace Pretrain.Training.Tests;

[Collection("torch")]
public sealed class SimClrTaskTests
{
    [Fact]
    public void Gradients_reach_the_projection_head_and_the_vit_and_probes_are_in_eval_rows()
    {
        using var dir = new TempDir();
        TinyRun.Run(VisionRun.Recipe(dir, "simclr", maxSteps: 4), dir["run"]);
        var step = Path.Combine(dir["run"], "checkpoints", "step-00000004");
        Assert.True(File.Exists(Path.Combine(step, "projection_head.safetensors")));
        var moments = Safetensors.Load(Path.Combine(step, "optimizer.safetensors"))
            .Where(kv => kv.Key.EndsWith(".exp_avg_sq", StringComparison.Ordinal)).ToList();
        Assert.Contains(moments, kv => kv.Key.StartsWith("projection.fc2.", StringComparison.Ordinal));
        Assert.Contains(moments, kv => kv.Key.StartsWith("encoder.patch_embed.", StringComparison.Ordinal));
        foreach (var (name, m) in moments)
            Assert.True(m.abs().sum().item<float>() > 0, $"{name} never saw a gradient");
        var evals = MetricsLog.Read(Path.Combine(dir["run"], "metrics.jsonl")).Where(r => r["eval_loss"] is not null).ToList();
        Assert.Equal(2, evals.Count);
        Assert.All(evals, r => Assert.InRange(r["eval_probe_linear"]!.GetValue<double>(), 0, 1));
        Assert.All(evals, r => Assert.InRange(r["eval_probe_knn"]!.GetValue<double>(), 0, 1));
    }
}
