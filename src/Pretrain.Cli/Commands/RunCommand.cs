using Pretrain.Onnx.Export;
using System.Runtime.InteropServices;
using Pretrain.Training;

namespace Pretrain.Cli.Commands;

/// <summary>`pretrain run RECIPE`: trains; SIGTERM/SIGINT finish the step, checkpoint and exit.</summary>
public static class RunCommand
{
    public static int Execute(ArgList args, TextWriter stdout)
    {
        if (args.Positionals.Count != 1) throw new UsageException("pretrain run needs exactly one RECIPE file.");
        var options = new RunOptions
        {
            RecipePath = args.Positionals[0],
            Overrides = args.Many("--set"),
            Resume = args.Option("--resume"),
            RunDir = args.Option("--run-dir"),
        };
        bool noExport = args.Flag("--no-export");   // skip the recipe's export step (e.g. no ONNX Runtime where it trains)
        args.RejectUnknown();
        if (!File.Exists(options.RecipePath))
            throw new FileNotFoundException($"Recipe file {options.RecipePath} does not exist. Recipes live under recipes/, e.g. recipes/quickstart.yaml.");

        using var cancel = new CancellationTokenSource();
        void Stop(PosixSignalContext ctx)
        {
            ctx.Cancel = true;   // keep the process alive: finish the step and checkpoint
            stdout.WriteLine($"{ctx.Signal}: finishing the current step and writing a checkpoint…");
            cancel.Cancel();
        }
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        using var intr = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);

        // A live progress bar on a terminal; plain lines when output is redirected (logs, CI, tests).
        bool interactive = ReferenceEquals(stdout, Console.Out) && !Console.IsOutputRedirected;
        var result = interactive
            ? ProgressObserver.Run(observer => RecipeRunner.Run(options, observer, cancel.Token))
            : RecipeRunner.Run(options, new ConsoleObserver(stdout), cancel.Token);
        stdout.WriteLine($"done: {result.State.Step} steps in {result.State.ElapsedSeconds:F1} s; run folder {result.RunDir}");
        if (!noExport && result.Recipe?.Export is { } export && result.LastCheckpoint is { } step && !cancel.IsCancellationRequested)
        {
            // The recipe's export step: the same export and ONNX Runtime check as `pretrain export`.
            var outDir = export.Out ?? Path.Combine(result.RunDir, "onnx");
            var exported = OnnxExporter.Export(step, outDir, new ExportOptions
            {
                Opset = export.Opset,
                Dtype = export.Dtype == "fp16" ? OnnxDtype.Fp16 : OnnxDtype.Fp32,
                WithPast = export.WithPast,
                Overwrite = true,   // the recipe's own export step replaces its earlier export of ours, nothing else
            });
            foreach (var warning in exported.Warnings)
                stdout.WriteLine($"warning: {warning}");
            var worst = exported.Report.Shapes.Count == 0 ? 0 : exported.Report.Shapes.Max(s => s.MaxAbsDiff);
            stdout.WriteLine($"exported {step} → {exported.Directory}; ONNX Runtime {exported.Report.OrtVersion} agrees to {worst:G3} (tolerance {exported.Report.Tolerance:G3})");
        }
        return 0;
    }
}
