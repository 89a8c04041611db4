using System.Text.Json.Nodes;
using Pretrain.Models.Text;
using Pretrain.Tests;
using Pretrain.Training.Precision;
using Pretrain.Training.Recipes;
using Xunit;
using static TorchSharp.torch;

namespace Pretrain.Training.Tests.Precision;

/// <summary>
/// What tools/gpu/check.sh's `speed` phase runs, checked on CPU: the PyTorch eager baseline dry-runs 3 steps with
/// Debian's older PyTorch and reports its numbers for the same model (its parameter and FLOP counts equal ours at the
/// same shape), and the phase's recipe loads. The GPU run itself is a phase of that script, never a test.
/// </summary>
[Collection("torch")]
public sealed class GpuSpeedPhaseTests
{
    [ReferenceFact(ReferenceTool.PythonTorch)]
    public void TheTorchBaselineDryRunsOnCpuAndReportsTheSameModelsNumbers()
    {
        ReferenceTools.Require(ReferenceTool.PythonTorch);
        using var dir = new TempDir();
        string script = Path.Combine(RepoRoot(), "tools", "gpu", "torch_gpt2_speed.py");
        string json = dir["speed.json"];
        var (code, output) = ReferenceTools.RunPython([script, "--device", "cpu", "--vocab", "64", "--seq", "16", "--dim", "32",
            "--layers", "2", "--heads", "2", "--batch", "2", "--warmup", "1", "--steps", "3", "--window", "1", "--threads", "1", "--out", json]);
        Assert.True(code == 0, "torch_gpt2_speed.py failed: " + output);
        var r = JsonNode.Parse(File.ReadAllText(json))!.AsObject();
        Assert.Equal(3, r["tokens_per_s_windows"]!.AsArray().Count);
        Assert.True(r["tokens_per_s"]!.GetValue<double>() > 0);
        Assert.True(r["tflops"]!.GetValue<double>() > 0);
        Assert.True(double.IsFinite(r["last_loss"]!.GetValue<double>()));
        Assert.True(r["max_rss_bytes"]!.GetValue<long>() > 0);

        // The same model as ours: parameter count and the FLOP formula our metrics use, at the same shape.
        using var scope = NewDisposeScope();
        var ours = new DecoderLm(new DecoderLmConfig { VocabSize = 64, MaxSeqLen = 16, EmbedDim = 32, NumLayers = 2, NumHeads = 2 });
        Assert.Equal(ours.parameters().Sum(p => p.numel()), r["parameters"]!.GetValue<long>());
        Assert.Equal(new Throughput(ours, 16, 1, 0).FlopsPerToken, r["flops_per_token"]!.GetValue<double>());
    }

    [Fact]
    public void TheSpeedRecipeIsTheGpt2SmallShapeInBf16Mixed()
    {
        var r = RecipeLoader.LoadFile(Path.Combine(RepoRoot(), "tools", "gpu", "speed-gpt2.yaml"));
        Assert.Equal((768, 12, 12, 1024, 50304), (r.Model.EmbedDim, r.Model.NumLayers, r.Model.NumHeads, r.Train.SeqLen, r.Model.VocabSize ?? 0));
        Assert.Equal("bf16-mixed", r.Train.Precision);
    }

    [Fact]
    public void CudaMemoryIsNullWhereNoCudaContextExists()
    {
        if (cuda.is_available()) return;   // a CUDA build with a device: the reading is real there (speed phase)
        Assert.Null(CudaMemory.DeviceUsedBytes());
    }

    private static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Pretrain.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("Pretrain.sln not found above " + AppContext.BaseDirectory);
    }
}
