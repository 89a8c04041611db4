using Pretrain.Training.Checkpointing;
using Pretrain.Training.Metrics;
using Pretrain.Training.Optim;
using Pretrain.Training.Recipes;
using Pretrain.Training.Tasks;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Training.Tests;

/// <summary>
/// train.on_nonfinite and train.max_skipped_steps (StepGuard): finiteness of the loss and gradients is checked
/// before the optimizer step, so a bad step never reaches the weights; skip counts, limits and resumes the count.
/// </summary>
[Collection("torch")]
public sealed class NonFiniteStepTests
{
    /// <summary>A one-layer task whose loss (or only its gradient) is poisoned at the listed steps (1-based).</summary>
    private sealed class PoisonedTask(Func<long, bool> poisoned, bool gradientOnly = false) : ITrainingTask
    {
        private readonly nn.Module<Tensor, Tensor> _model = nn.Linear(2, 1);
        private long _step;
        public nn.Module Model => _model;
        public string Describe => "poisoned";
        public bool HasEval => false;
        public string BestMetric => "eval_loss";
        public string CursorJson => $$"""{"step":{{_step}}}""";
        public IReadOnlyList<MicroBatch> NextStep(int gradAccumSteps, int microBatchSize)
        {
            _step++;
            return [new MicroBatch(0, 1, 1)];
        }
        public Tensor LossSum(MicroBatch batch)
        {
            var loss = (_model.call(ones(1, 2)) - 3).square().sum();
            if (!poisoned(_step)) return loss;
            if (!gradientOnly) return loss * double.NaN;
            // sqrt at exactly 0: the loss stays finite, its gradient is infinite
            var w = _model.parameters().First();
            return loss + (w.sum() - w.sum().detach()).sqrt();
        }
        public Dictionary<string, double> Evaluate(int microBatchSize, int maxBatches) => [];
        public void SaveModel(string directory) => Models.Weights.Safetensors.Save(Path.Combine(directory, "model.safetensors"),
            _model.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter));
        public void LoadModel(string directory) { }
        public void Dispose() => _model.Dispose();
    }

    /// <summary>Records the weights after every logged step.</summary>
    private sealed class WeightLog(nn.Module model) : ITrainingObserver
    {
        public List<float[]> After { get; } = [];
        public List<string> Messages { get; } = [];
        public void OnStart(long startStep, long maxSteps) { }
        public void OnStep(long step, IReadOnlyDictionary<string, double> metrics) =>
            After.Add([.. model.parameters().SelectMany(p => p.data<float>().ToArray())]);
        public void OnEval(long step, IReadOnlyDictionary<string, double> metrics) { }
        public void OnMessage(string message) => Messages.Add(message);
    }

    private static (TrainerState State, AdamW Opt) Train(string runDir, PoisonedTask task, int maxSteps, string onNonfinite,
        int maxSkipped = 50, TrainerState? resume = null, ITrainingObserver? observer = null)
    {
        var opt = new AdamW(task.Model.named_parameters().Select(p => (p.name, p.parameter)), (_, _) => false, 0.1, 0.9, 0.999, 1e-8, 0);
        var train = new TrainSection { MaxSteps = maxSteps, LogEvery = 1, EvalEvery = 1000, CheckpointEvery = 2, KeepLast = 10, KeepBest = 0, OnNonfinite = onNonfinite, MaxSkippedSteps = maxSkipped };
        var manager = new CheckpointManager(Path.Combine(runDir, "checkpoints"), train.KeepLast, train.KeepBest, false);
        using var metrics = new MetricsLog(runDir, resume?.Step ?? 0, writeTensorBoard: false);
        var state = new Trainer(new TrainerParts
        {
            Task = task,
            Optimizer = opt,
            Schedule = new LrSchedule("constant", 0.1, 0, maxSteps, 1),
            Train = train,
            Checkpoints = new CheckpointWriter(manager, task, opt, "name: x\n"),
            Metrics = metrics,
            Observer = observer ?? NullTrainingObserver.Instance,
        }).Run(resume, CancellationToken.None);
        return (state, opt);
    }

    private static string[] Checkpoints(string runDir) =>
        [.. Directory.GetDirectories(Path.Combine(runDir, "checkpoints"), "step-*").Select(Path.GetFileName).Order()!];

    [Theory]
    [InlineData(false, "the loss became NaN")]
    [InlineData(true, "the gradient norm became")]
    public void Stop_ends_the_run_naming_the_step_before_the_weights_change(bool gradientOnly, string what)
    {
        using var dir = new TempDir();
        using var task = new PoisonedTask(s => s == 3, gradientOnly);
        var log = new WeightLog(task.Model);
        var e = Assert.Throws<NumericalFaultException>(() => Train(dir.Path, task, 6, "stop", observer: log));
        Assert.Contains("At step 3 " + what, e.Message, StringComparison.Ordinal);
        Assert.Equal(2, log.After.Count);
        float[] now = [.. task.Model.parameters().SelectMany(p => p.data<float>().ToArray())];
        Assert.Equal(log.After[^1], now);   // step 3 never applied
        Assert.Equal(["step-00000002"], Checkpoints(dir.Path));                   // the last good checkpoint, nothing after it
    }

    [Fact]
    public void Skip_leaves_weights_and_optimizer_unchanged_counts_the_step_and_keeps_the_count_on_resume()
    {
        using var dir = new TempDir();
        TrainerState saved;
        using (var task = new PoisonedTask(s => s == 3))
        {
            var log = new WeightLog(task.Model);
            var (state, opt) = Train(dir.Path, task, 4, "skip", observer: log);
            using (opt)
            {
                Assert.Equal(log.After[1], log.After[2]);        // weights after step 3 = after step 2
                Assert.NotEqual(log.After[2], log.After[3]);     // step 4 trains again
                Assert.Equal(3, opt.StepCount);                  // AdamW's own count (bias correction) skips it too
                Assert.Equal((4L, 1L, 0), (state.Step, state.SkippedSteps, state.ConsecutiveSkippedSteps));
                Assert.Contains(log.Messages, m => m.Contains("step 3: loss NaN", StringComparison.Ordinal) && m.Contains("update skipped", StringComparison.Ordinal));
            }
            var rows = MetricsLog.Read(Path.Combine(dir.Path, "metrics.jsonl"));
            Assert.Equal([0, 0, 1, 1], rows.Select(r => r["skipped_steps"]!.GetValue<double>()));
            saved = TrainerState.Load(Path.Combine(dir.Path, "checkpoints", "step-00000004", "trainer_state.json"));
            Assert.Equal(1, saved.SkippedSteps);
        }
        using (var task = new PoisonedTask(s => s == 2))   // its own count: step 6 of the run
        {
            var (state, opt) = Train(dir.Path, task, 6, "skip", resume: saved);
            opt.Dispose();
            Assert.Equal(2, state.SkippedSteps);
        }
    }

    [Fact]
    public void More_than_max_skipped_steps_in_a_row_stops_naming_the_step()
    {
        using var dir = new TempDir();
        using var task = new PoisonedTask(s => s is >= 2 and <= 5 || s == 7);
        var e = Assert.Throws<NumericalFaultException>(() => Train(dir.Path, task, 20, "skip", maxSkipped: 3));
        Assert.Contains("At step 5 ", e.Message, StringComparison.Ordinal);
        Assert.Contains("4 steps in a row skipped, more than train.max_skipped_steps (3)", e.Message, StringComparison.Ordinal);

        Directory.CreateDirectory(dir["b"]);
        using var again = new PoisonedTask(s => s is >= 2 and <= 4 || s == 6);   // 3 in a row, then a good step resets the streak
        var (state, opt) = Train(dir["b"], again, 8, "skip", maxSkipped: 3);
        opt.Dispose();
        Assert.Equal((8L, 4L), (state.Step, state.SkippedSteps));
    }

    [Fact]
    public void Recipe_validator_names_a_bad_on_nonfinite_and_max_skipped_steps()
    {
        using var dir = new TempDir();
        var recipe = TinyRun.Recipe(dir);
        var e = Assert.Throws<RecipeException>(() => RecipeLoader.LoadFile(recipe, ["train.on_nonfinite=ignore", "train.max_skipped_steps=0"]));
        Assert.Contains("train.on_nonfinite", e.Message, StringComparison.Ordinal);
        Assert.Contains("train.max_skipped_steps", e.Message, StringComparison.Ordinal);
        var train = RecipeLoader.LoadFile(recipe, ["train.on_nonfinite=skip", "train.max_skipped_steps=7"]).Train;
        Assert.Equal(("skip", 7), (train.OnNonfinite, train.MaxSkippedSteps));
        Assert.Equal(("stop", 50), (new TrainSection().OnNonfinite, new TrainSection().MaxSkippedSteps));
    }
}
