using System.Text.Json;
using Pretrain.Training.Checkpointing;
using Pretrain.Training.Metrics;
using Pretrain.Training.Optim;
using Pretrain.Training.Recipes;
using Pretrain.Training.Tasks;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Training.Tests;

/// <summary>Keep-best ranks checkpoints by the task's metric in its direction, records both, and keeps them on resume.</summary>
[Collection("torch")]
public sealed class KeepBestTests
{
    /// <summary>A one-weight task whose evals report scripted metrics (one value per eval, step 0 first).</summary>
    private sealed class ScriptedTask(string metric, bool higher, double[] values) : ITrainingTask
    {
        private readonly nn.Module<Tensor, Tensor> _model = nn.Linear(2, 1);
        private int _evals;
        public int Offset { get; init; }
        public nn.Module Model => _model;
        public string Describe => "scripted";
        public bool HasEval => true;
        public string BestMetric => metric;
        public bool BestMetricHigherIsBetter => higher;
        public string CursorJson => "{}";
        public IReadOnlyList<MicroBatch> NextStep(int gradAccumSteps, int microBatchSize) => [new MicroBatch(0, 1, 1)];
        public Tensor LossSum(MicroBatch batch) => _model.call(ones(1, 2)).square().sum();
        public Dictionary<string, double> Evaluate(int microBatchSize, int maxBatches) =>
            new() { [metric] = values[Offset + _evals++], ["eval_other"] = 0 };
        public void SaveModel(string directory) => File.WriteAllText(Path.Combine(directory, "model.txt"), "x");
        public void LoadModel(string directory) { }
        public void Dispose() => _model.Dispose();
    }

    private static TrainerState Train(string runDir, ScriptedTask task, int maxSteps, TrainerState? resume = null, string? bestMetric = null, bool? higher = null)
    {
        using var opt = new AdamW(task.Model.named_parameters().Select(p => (p.name, p.parameter)), (_, _) => false, 1e-3, 0.9, 0.999, 1e-8, 0);
        var train = new TrainSection { MaxSteps = maxSteps, EvalEvery = 2, CheckpointEvery = 2, KeepLast = 1, KeepBest = 1, LogEvery = 1 };
        var isHigher = higher ?? task.BestMetricHigherIsBetter;
        var manager = new CheckpointManager(Path.Combine(runDir, "checkpoints"), train.KeepLast, train.KeepBest, isHigher);
        using var metrics = new MetricsLog(runDir, resume?.Step ?? 0, writeTensorBoard: false);
        return new Trainer(new TrainerParts
        {
            Task = task,
            Optimizer = opt,
            Schedule = new LrSchedule("constant", 1e-3, 0, maxSteps, 1),
            Train = train,
            Checkpoints = new CheckpointWriter(manager, task, opt, "name: x\n"),
            Metrics = metrics,
            BestMetric = bestMetric,
            BestHigherIsBetter = higher,
        }).Run(resume, CancellationToken.None);
    }

    private static long[] Kept(string runDir) =>
        [.. Directory.GetDirectories(Path.Combine(runDir, "checkpoints"), "step-*").Select(d => long.Parse(Path.GetFileName(d)[5..])).Order()];

    [Fact]
    public void Higher_is_better_keeps_the_highest_accuracy_step_and_resume_keeps_it()
    {
        using var dir = new TempDir();
        // evals at steps 0, 2, 4, 6 | resumed: 8, 10
        double[] acc = [0.1, 0.9, 0.5, 0.6, 0.7, 0.8];
        using (var task = new ScriptedTask("eval_accuracy", higher: true, acc))
        {
            var state = Train(dir.Path, task, 6);
            Assert.Equal((2L, 0.9, "max", "eval_accuracy"), (state.BestStep!.Value, state.BestMetric!.Value, state.BestMetricMode, state.BestMetricName));
        }
        Assert.Equal([2L, 6L], Kept(dir.Path));   // best (highest) + latest; 4 pruned
        var saved = TrainerState.Load(Path.Combine(dir.Path, "checkpoints", "step-00000006", "trainer_state.json"));
        Assert.Equal((2L, "max"), (saved.BestStep!.Value, saved.BestMetricMode));
        using (var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.Path, "checkpoints", "step-00000006", "trainer_state.json"))))
            Assert.Equal("max", json.RootElement.GetProperty("best_metric_mode").GetString());

        using (var task = new ScriptedTask("eval_accuracy", higher: true, acc) { Offset = 4 })
        {
            var state = Train(dir.Path, task, 10, resume: saved);
            Assert.Equal(2L, state.BestStep);   // 0.7 and 0.8 after resume do not beat 0.9
        }
        Assert.Equal([2L, 10L], Kept(dir.Path));
    }

    [Fact]
    public void Lower_is_better_keeps_the_lowest_loss_step()
    {
        using var dir = new TempDir();
        using var task = new ScriptedTask("eval_loss", higher: false, [2.0, 0.9, 0.4, 0.6]);
        var state = Train(dir.Path, task, 6);
        Assert.Equal((4L, 0.4, "min"), (state.BestStep!.Value, state.BestMetric!.Value, state.BestMetricMode));
        Assert.Equal([4L, 6L], Kept(dir.Path));
    }

    [Fact]
    public void A_best_metric_the_eval_lacks_fails_at_the_step_0_eval()
    {
        using var dir = new TempDir();
        using var task = new ScriptedTask("eval_loss", higher: false, [1.0, 1.0]);
        var e = Assert.Throws<InvalidOperationException>(() => Train(dir.Path, task, 2, bestMetric: "eval_accuracy", higher: true));
        Assert.Contains("eval_accuracy", e.Message);
        Assert.Contains("eval_other", e.Message);
    }

    [Fact]
    public void Recipe_best_metric_overrides_the_task_and_infers_its_direction()
    {
        var r = RecipeLoader.Parse("name: x\ndata:\n  train: {synthetic: {}}\ntrain: {best_metric: eval_macro_f1}\n", "x.yaml");
        Assert.Equal(("eval_macro_f1", (string?)null), (r.Train.BestMetric, r.Train.BestMode));
        Assert.Equal("max", RecipeValidator.InferBestMode("eval_macro_f1"));
        Assert.Equal("min", RecipeValidator.InferBestMode("eval_loss"));
    }
}
