using Pretrain.Training.Metrics;

namespace Pretrain.Training.Tests;

/// <summary>A run that dies before its first checkpoint and is started again leaves one step-0 eval row, not one per try.</summary>
[Collection("torch")]
public sealed class MetricsRestartTests
{
    private sealed class CrashAtFirstStep : ITrainingObserver
    {
        public void OnStart(long startStep, long maxSteps) { }
        public void OnStep(long step, IReadOnlyDictionary<string, double> metrics) => throw new IOException("simulated crash before the first checkpoint");
        public void OnEval(long step, IReadOnlyDictionary<string, double> metrics) { }
        public void OnMessage(string message) { }
    }

    [Fact]
    public void Restarts_before_the_first_checkpoint_do_not_repeat_the_step_0_eval_row()
    {
        using var dir = new TempDir();
        var recipe = TinyRun.Recipe(dir, maxSteps: 2);
        for (int attempt = 0; attempt < 2; attempt++)
            Assert.Throws<IOException>(() => TinyRun.Run(recipe, dir["run"], resume: "auto", observer: new CrashAtFirstStep()));
        TinyRun.Run(recipe, dir["run"], resume: "auto");

        var rows = MetricsLog.Read(Path.Combine(dir["run"], "metrics.jsonl"));
        Assert.Single(rows, r => r["step"]!.GetValue<long>() == 0);
        Assert.Equal([0L, 1L, 2L, 2L], rows.Select(r => r["step"]!.GetValue<long>()));   // eval 0, steps 1 and 2, eval 2
    }
}
