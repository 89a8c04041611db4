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

    public void OnEval(long step, IReadOnlyDictionary<string, double> m) => output.WriteLine(EvalLine(step, m));

    /// <summary>One eval line: loss, then perplexity and accuracy (language models) and probe accuracies when present.</summary>
    internal static string EvalLine(long step, IReadOnlyDictionary<string, double> m)
    {
        var line = new System.Text.StringBuilder(string.Create(CultureInfo.InvariantCulture, $"eval {step,6}  loss {m["eval_loss"]:F4}"));
        if (m.TryGetValue("eval_ppl", out var ppl))
            line.Append(CultureInfo.InvariantCulture, $"  ppl {ppl:F2}");
        if (m.TryGetValue("eval_macro_f1", out var f1))
            line.Append(CultureInfo.InvariantCulture, $"  macro-F1 {f1:F4}");
        if (m.TryGetValue("eval_accuracy", out var acc))
            line.Append(CultureInfo.InvariantCulture, $"  acc {acc:P1}");
        if (m.TryGetValue("eval_exact_match", out var exact))
            line.Append(CultureInfo.InvariantCulture, $"  exact {exact:P1}");
        foreach (var (key, value) in m.Where(kv => kv.Key.StartsWith("eval_probe_", StringComparison.Ordinal)).OrderBy(kv => kv.Key, StringComparer.Ordinal))
            line.Append(CultureInfo.InvariantCulture, $"  {key["eval_probe_".Length..]} {value:P1}");
        return line.ToString();
    }

    public void OnMessage(string message) => output.WriteLine(message);
}
