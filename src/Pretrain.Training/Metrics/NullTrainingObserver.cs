namespace Pretrain.Training.Metrics;

/// <summary>Hears nothing.</summary>
public sealed class NullTrainingObserver : ITrainingObserver
{
    public static readonly NullTrainingObserver Instance = new();
    public void OnStart(long startStep, long maxSteps) { }
    public void OnStep(long step, IReadOnlyDictionary<string, double> metrics) { }
    public void OnEval(long step, IReadOnlyDictionary<string, double> metrics) { }
    public void OnMessage(string message) { }
}
