namespace Pretrain.Training.Metrics;

/// <summary>What a front end (console progress, tests) hears from a run.</summary>
public interface ITrainingObserver
{
    void OnStart(long startStep, long maxSteps);
    void OnStep(long step, IReadOnlyDictionary<string, double> metrics);
    void OnEval(long step, IReadOnlyDictionary<string, double> metrics);
    void OnMessage(string message);
}
