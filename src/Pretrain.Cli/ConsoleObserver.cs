using System.Globalization;
using Pretrain.Training.Metrics;

namespace Pretrain.Cli;

/// <summary>Prints one line per logged step, eval and message; terse enough for log files and terminals alike.</summary>
public sealed class ConsoleObserver(TextWriter output) : ITrainingObserver
{
    private long _maxSteps;

    public void OnStart(long startStep, long maxSteps)
    {
        _maxSteps = maxSteps;
        output.WriteLine(startStep == 0 ? $"training {maxSteps} steps" : $"training steps {startStep + 1}..{maxSteps}");
    }

    public void OnStep(long step, IReadOnlyDictionary<string, double> m) =>
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"step {step,6}/{_maxSteps}  loss {m["loss"]:F4}  lr {m["lr"]:E2}  grad {m["grad_norm"]:F2}  {m["tokens_per_s"]:F0} tok/s"));

    public void OnEval(long step, IReadOnlyDictionary<string, double> m) =>
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"eval {step,6}  loss {m["eval_loss"]:F4}  {(m.TryGetValue("eval_ppl", out var ppl) ? $"ppl {ppl:F2}" : $"macro-F1 {m.GetValueOrDefault("eval_macro_f1"):F4}")}  acc {m.GetValueOrDefault("eval_accuracy"):P1}"));

    public void OnMessage(string message) => output.WriteLine(message);
}
