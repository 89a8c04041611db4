using System.Globalization;
using Pretrain.Training.Metrics;
using Spectre.Console;

namespace Pretrain.Cli;

/// <summary>
/// Interactive terminals: a Spectre.Console progress bar (step, loss, tokens/s) with eval results and messages
/// printed above it. Redirected output gets <see cref="ConsoleObserver"/>'s plain lines instead.
/// </summary>
public sealed class ProgressObserver(ProgressTask task) : ITrainingObserver
{
    public void OnStart(long startStep, long maxSteps)
    {
        task.MaxValue = maxSteps;
        task.Value = startStep;
        task.StartTask();
    }

    public void OnStep(long step, IReadOnlyDictionary<string, double> m)
    {
        task.Value = step;
        task.Description = string.Create(CultureInfo.InvariantCulture,
            $"step {step}  loss {m["loss"]:F4}  lr {m["lr"]:E2}  {m["tokens_per_s"]:F0} tok/s");
    }

    public void OnEval(long step, IReadOnlyDictionary<string, double> m) =>
        AnsiConsole.MarkupLine(Markup.Escape(string.Create(CultureInfo.InvariantCulture,
            $"eval {step,6}  loss {m["eval_loss"]:F4}  {(m.TryGetValue("eval_ppl", out var ppl) ? $"ppl {ppl:F2}" : $"macro-F1 {m.GetValueOrDefault("eval_macro_f1"):F4}")}  acc {m.GetValueOrDefault("eval_accuracy"):P1}")));

    public void OnMessage(string message) => AnsiConsole.MarkupLine(Markup.Escape(message));

    /// <summary>Runs <paramref name="work"/> under a live progress bar.</summary>
    public static T Run<T>(Func<ITrainingObserver, T> work) =>
        AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx => work(new ProgressObserver(ctx.AddTask("starting", autoStart: false))));
}
