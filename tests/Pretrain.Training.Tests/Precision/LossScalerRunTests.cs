using Pretrain.Models.Weights;
using Pretrain.Training.Checkpointing;
using Pretrain.Training.Metrics;
using Pretrain.Training.Optim;
using Pretrain.Training.Precision;
using Pretrain.Training.Recipes;
using Pretrain.Training.Tasks;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Pretrain.Training.Tests.Precision;

/// <summary>
/// fp16-mixed in the trainer: an injected overflow skips the step and backs the scale off, clean steps grow it back
/// (growth interval 2 here), the scale and its counter resume exactly, and too many overflows in a row stop the
/// run naming bf16 as the remedy whatever train.on_nonfinite says.
/// </summary>
[Collection("torch")]
public sealed class LossScalerRunTests
{
    /// <summary>A two-weight regression whose loss is made infinite at the listed steps (1-based).</summary>
    private sealed class OverflowTask(params int[] overflowSteps) : ITrainingTask
    {
        private readonly nn.Module<Tensor, Tensor> _model = Seeded();
        private static nn.Module<Tensor, Tensor> Seeded() { random.manual_seed(5); return nn.Linear(4, 1); }   // every run starts alike
        private int _step;
        public int StartStep { init => _step = value; }
        public nn.Module Model => _model;
        public string Describe => "overflow";
        public bool HasEval => false;
        public string BestMetric => "eval_loss";
        public string CursorJson => $"{{\"step\": {_step}}}";
        public IReadOnlyList<MicroBatch> NextStep(int gradAccumSteps, int microBatchSize) { _step++; return [new MicroBatch(_step, 8, 8)]; }
        public Tensor LossSum(MicroBatch batch)
        {
            int step = (int)batch.Samples;
            var x = arange(32, dtype: ScalarType.Float32).reshape(8, 4) / 32 + 0.1 * (step % 3);
            var loss = (_model.call(x) - 1).square().sum() * 1e-3;   // small enough that 131072× stays inside fp16
            return overflowSteps.Contains(step) ? loss * float.PositiveInfinity : loss;
        }
        public Dictionary<string, double> Evaluate(int microBatchSize, int maxBatches) => [];
        public void SaveModel(string directory) => Safetensors.Save(Path.Combine(directory, "model.safetensors"),
            _model.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter));
        public void LoadModel(string directory)
        {
            var saved = Safetensors.Load(Path.Combine(directory, "model.safetensors"));
            using var _ = no_grad();
            foreach (var (name, p) in _model.named_parameters()) p.copy_(saved[name]);
        }
        public float[] Weights() => _model.parameters().SelectMany(p => p.data<float>().ToArray()).ToArray();
        public void Dispose() => _model.Dispose();
    }

    private sealed class Rows : ITrainingObserver
    {
        public List<(long Step, IReadOnlyDictionary<string, double> Row)> Logged { get; } = [];
        public void OnStart(long startStep, long maxSteps) { }
        public void OnStep(long step, IReadOnlyDictionary<string, double> metrics) => Logged.Add((step, new Dictionary<string, double>(metrics)));
        public void OnEval(long step, IReadOnlyDictionary<string, double> metrics) { }
        public void OnMessage(string message) { }
    }

    private static TrainerState Train(string runDir, OverflowTask task, int maxSteps, TrainerState? resume = null, Rows? rows = null,
        string onNonfinite = "stop", int maxSkipped = 50)
    {
        Directory.CreateDirectory(runDir);
        using var opt = new AdamW(task.Model.named_parameters().Select(p => (p.name, p.parameter)), (_, _) => false, 1e-2, 0.9, 0.999, 1e-8, 0);
        if (resume is not null) resume = CheckpointReader.Restore(Path.Combine(runDir, "checkpoints", $"step-{resume.Step:D8}"), resume.Step, task, opt);
        var train = new TrainSection { MaxSteps = maxSteps, CheckpointEvery = 4, KeepLast = 10, KeepBest = 0, LogEvery = 1, OnNonfinite = onNonfinite, MaxSkippedSteps = maxSkipped };
        var manager = new CheckpointManager(Path.Combine(runDir, "checkpoints"), train.KeepLast, train.KeepBest, false);
        using var metrics = new MetricsLog(runDir, resume?.Step ?? 0, writeTensorBoard: false);
        return new Trainer(new TrainerParts
        {
            Task = task,
            Optimizer = opt,
            Schedule = new LrSchedule("constant", 1e-2, 0, maxSteps, 1),
            Train = train,
            Checkpoints = new CheckpointWriter(manager, task, opt, "name: x\n"),
            Metrics = metrics,
            Observer = (ITrainingObserver?)rows ?? NullTrainingObserver.Instance,
            Precision = new PrecisionPolicy("fp16-mixed", DeviceType.CPU) { ScalerGrowthInterval = 2 },
        }).Run(resume, CancellationToken.None);
    }

    [Fact]
    public void AnOverflowSkipsBacksOffGrowsBackAndResumesExactly()
    {
        using var dir = new TempDir();
        var rows = new Rows();
        float[] straight;
        using (var task = new OverflowTask(3, 6))
        {
            var before = task.Weights();
            var state = Train(dir["straight"], task, 8, rows: rows);
            straight = task.Weights();
            Assert.NotEqual(before, straight);
            Assert.Equal(2, state.SkippedSteps);
        }
        double Scale(long step) => rows.Logged.Single(r => r.Step == step).Row["loss_scale"];
        double Skipped(long step) => rows.Logged.Single(r => r.Step == step).Row["skipped_steps"];
        // 65536; growth every 2 clean steps: step 2 → 131072; step 3 overflows → 65536; steps 4, 5 → 131072; 6 → 65536; 7, 8 → 131072.
        Assert.Equal([65536, 131072, 65536, 65536, 131072, 65536, 65536, 131072], Enumerable.Range(1, 8).Select(s => Scale(s)));
        Assert.Equal([0, 0, 1, 1, 1, 2, 2, 2], Enumerable.Range(1, 8).Select(s => Skipped(s)));

        // Stop at step 4 (checkpoint), resume to 8: the same weights bit for bit and the same scale.
        using (var first = new OverflowTask(3, 6)) Train(dir["resumed"], first, 4);
        var saved = TrainerState.Load(Path.Combine(dir["resumed"], "checkpoints", "step-00000004", "trainer_state.json"));
        Assert.Equal((65536.0, 1), (saved.LossScale, saved.LossScaleGrowthTracker));
        using var second = new OverflowTask(3, 6) { StartStep = 4 };
        var end = Train(dir["resumed"], second, 8, resume: saved);
        Assert.Equal(straight, second.Weights());
        Assert.Equal(131072.0, end.LossScale);
        Assert.Equal(2, end.SkippedSteps);
    }

    [Fact]
    public void OverflowsPastTheLimitStopNamingBf16WhateverOnNonfiniteSays()
    {
        using var dir = new TempDir();
        using var task = new OverflowTask(2, 3, 4, 5);
        var e = Assert.Throws<NumericalFaultException>(() => Train(dir["run"], task, 8, onNonfinite: "stop", maxSkipped: 3));
        Assert.Contains("train.max_skipped_steps (3)", e.Message);
        Assert.Contains("bf16-mixed", e.Message);
    }
}
