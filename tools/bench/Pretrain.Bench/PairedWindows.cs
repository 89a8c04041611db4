using System.Diagnostics;
using Pretrain.Training.Metrics;

namespace Pretrain.Bench;

/// <summary>
/// Interleaves the bare loop with the trainer, window by window: the trainer calls OnStep on its own thread after
/// each metrics row and restarts its window clock after that call, so a bare window run here sits between two
/// trainer windows without being counted in either. Adjacent windows see the same spell of background load, which
/// matters on a shared machine. OnStart runs the bare loop's warm-up step.
/// </summary>
public sealed class PairedWindows(BareLoop bare, int window, long maxSteps) : ITrainingObserver
{
    private long _spentTicks;

    /// <summary>Tokens/s of each bare window.</summary>
    public List<double> BareRates { get; } = [];

    /// <summary>Wall time spent in the bare loop (to take out of the trainer's end-to-end time).</summary>
    public TimeSpan Spent => Stopwatch.GetElapsedTime(0, _spentTicks);

    public void OnStart(long startStep, long maxStepsOfRun) => Timed(bare.Step);

    public void OnStep(long step, IReadOnlyDictionary<string, double> metrics)
    {
        if (step < maxSteps) Timed(() => BareRates.Add(bare.Window(window)));
    }

    public void OnEval(long step, IReadOnlyDictionary<string, double> metrics) { }

    public void OnMessage(string message) { }

    private void Timed(Action action)
    {
        long t0 = Stopwatch.GetTimestamp();
        action();
        _spentTicks += Stopwatch.GetTimestamp() - t0;
    }
}
