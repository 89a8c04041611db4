using Pretrain.Models.Weights;
using Pretrain.Training.Metrics;
using Pretrain.Training.Recipes;
using Xunit;
using static TorchSharp.torch;

namespace Pretrain.Training.Tests.Precision;

/// <summary>train.precision end to end through the recipe runner: losses, checkpoints, metrics, every smoke recipe.</summary>
[Collection("torch")]
public sealed class PrecisionRunTests
{
    private static double FinalLoss(RunResult r) => (double)r.Summary["final_loss"]!;

    [Fact]
    public void Bf16MixedEndsWithinTwoPercentOfFp32()
    {
        // A smaller equivalent of recipes/quickstart.yaml (its 200 steps take minutes at bf16 on an AVX2-only CPU).
        using var dir = new TempDir();
        var recipe = TinyRun.Recipe(dir, maxSteps: 60);
        string[] sets = ["model.embed_dim=32", "train.log_every=10", "train.eval_every=1000", "train.checkpoint_every=1000"];
        var fp32 = TinyRun.Run(recipe, dir["fp32"], sets);
        var bf16 = TinyRun.Run(recipe, dir["bf16"], [.. sets, "train.precision=bf16-mixed"]);
        double a = FinalLoss(fp32), b = FinalLoss(bf16);
        Assert.True(a < 4.5, $"fp32 did not learn: final loss {a}");
        Assert.True(Math.Abs(b - a) / a < 0.02, $"bf16-mixed final loss {b} vs fp32 {a}");
        Assert.NotEqual(a, b);   // bf16 compute really ran (the same loss to the last bit would mean no autocast)
    }

    [Fact]
    public void CheckpointsHoldFp32MasterWeightsAndOptimizerStateAndRowsHoldThroughput()
    {
        using var dir = new TempDir();
        var r = TinyRun.Run(TinyRun.Recipe(dir, maxSteps: 4), dir["run"], ["train.precision=bf16-mixed"]);
        var step = Path.Combine(dir["run"], "checkpoints", "step-00000004");
        foreach (var file in new[] { "model.safetensors", "optimizer.safetensors" })
        {
            var tensors = Safetensors.Load(Path.Combine(step, file));
            Assert.All(tensors, kv => Assert.True(kv.Value.dtype is ScalarType.Float32 or ScalarType.Int64, $"{file} {kv.Key} is {kv.Value.dtype}"));
        }
        var rows = MetricsLog.Read(Path.Combine(dir["run"], "metrics.jsonl")).Where(x => x.ContainsKey("loss")).ToList();
        Assert.NotEmpty(rows);
        Assert.All(rows, row =>
        {
            Assert.True(row["tflops"]!.GetValue<double>() > 0);
            double mfu = row["mfu"]!.GetValue<double>();
            Assert.True(mfu > 0 && mfu < 5, $"mfu {mfu}");
        });
    }

    [Theory]
    [InlineData("train.precision=fp16", "train.precision must be one of fp32, bf16-mixed, fp16-mixed, bf16, auto; got 'fp16'")]
    [InlineData("train.precision=fp16-pure", "train.precision must be one of fp32, bf16-mixed, fp16-mixed, bf16, auto; got 'fp16-pure'")]
    public void ABadPrecisionIsOneClearLine(string set, string message)
    {
        using var dir = new TempDir();
        var e = Assert.Throws<RecipeException>(() => TinyRun.Run(TinyRun.Recipe(dir, maxSteps: 2), dir["run"], [set]));
        Assert.Contains(message, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void AutoResolvesToAModeTheRunNames()
    {
        using var dir = new TempDir();
        var messages = new Messages();
        TinyRun.Run(TinyRun.Recipe(dir, maxSteps: 1), dir["run"], ["train.precision=auto"], observer: messages);
        Assert.Contains(messages.Lines, l => l.Contains("precision fp32 (auto)") || l.Contains("precision bf16-mixed (auto)"));
    }

    public static TheoryData<string> SmokeRecipes()
    {
        var data = new TheoryData<string>();
        foreach (var f in Directory.EnumerateFiles(Path.Combine(RepoRoot(), "recipes", "smoke"), "*.yaml").Order()) data.Add(Path.GetFileName(f));
        return data;
    }

    [Theory]
    [MemberData(nameof(SmokeRecipes))]
    public void EverySmokeRecipeTrainsInBf16Mixed(string file) => SmokeRun(file, "bf16-mixed");

    /// <summary>Pure bf16 for every objective: trains, checkpoints fp32 model files, resumes from them.</summary>
    [Theory]
    [MemberData(nameof(SmokeRecipes))]
    public void EverySmokeRecipeTrainsAndResumesInPureBf16(string file)
    {
        var (dir, r) = SmokeRun(file, "bf16", steps: 1, resumeTo: 2);
        using (dir)
        {
            var step = Path.Combine(dir["run"], "checkpoints", "step-00000002");
            foreach (var f in Directory.EnumerateFiles(step, "*.safetensors").Where(f => !f.EndsWith("optimizer.safetensors", StringComparison.Ordinal)))
                Assert.False(Pretrain.Training.Precision.Fp32Checkpoint.HasLowerPrecision(f), $"{file}: {Path.GetFileName(f)} holds bf16 tensors");
        }
    }

    private static void SmokeRun(string file, string precision) => SmokeRun(file, precision, steps: 2, resumeTo: 0).Dir.Dispose();

    private static (TempDir Dir, RunResult Result) SmokeRun(string file, string precision, int steps, int resumeTo)
    {
        var dir = new TempDir();
        string path = Path.Combine(RepoRoot(), "recipes", "smoke", file);
        var sets = new List<string> { $"train.precision={precision}", $"train.max_steps={steps}", "train.checkpoint_every=1", "train.eval_every=2" };
        if (RecipeLoader.LoadFile(path).Init is { } init && init.Checkpoint.StartsWith("runs/", StringComparison.Ordinal))
        {
            var basePath = Path.Combine(RepoRoot(), "recipes", "smoke", init.Checkpoint["runs/".Length..] + ".yaml");
            TinyRun.Run(basePath, dir["base"], [$"train.precision={precision}", "train.max_steps=2", "train.checkpoint_every=2", "train.eval_every=2"]);
            sets.Add($"init.checkpoint={dir["base"]}");
        }
        var r = TinyRun.Run(path, dir["run"], sets);
        Assert.Equal(steps, r.State.Step);
        if (resumeTo > steps)
        {
            sets[1] = $"train.max_steps={resumeTo}";
            r = TinyRun.Run(path, dir["run"], sets, resume: "auto");
            Assert.Equal(resumeTo, r.State.Step);
        }
        Assert.True(double.IsFinite(FinalLoss(r)), $"{file}: final loss {FinalLoss(r)}");
        return (dir, r);
    }

    private static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Pretrain.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("Pretrain.sln not found above " + AppContext.BaseDirectory);
    }

    private sealed class Messages : ITrainingObserver
    {
        public List<string> Lines { get; } = [];
        public void OnStart(long startStep, long maxSteps) { }
        public void OnStep(long step, IReadOnlyDictionary<string, double> metrics) { }
        public void OnEval(long step, IReadOnlyDictionary<string, double> metrics) { }
        public void OnMessage(string message) => Lines.Add(message);
    }
}
