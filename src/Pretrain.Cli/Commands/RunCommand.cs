using Pretrain.Onnx.Export;
using Pretrain.Training;
using Pretrain.Training.Metrics;

namespace Pretrain.Cli.Commands;

/// <summary>`pretrain run RECIPE`: trains; SIGTERM/SIGUSR1/SIGINT during training finish the step, checkpoint and exit 0.</summary>
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
        if (Directory.Exists(options.RecipePath))
            throw new FileNotFoundException($"Recipe {options.RecipePath} is a folder, not a recipe file; pass a .yaml file in it, e.g. recipes/quickstart.yaml.");
        if (!File.Exists(options.RecipePath))
            throw new FileNotFoundException($"Recipe file {options.RecipePath} does not exist. Recipes live under recipes/, e.g. recipes/quickstart.yaml.");

        // One collectives per process (world size 1 unless a launcher such as mpirun started several ranks); its
        // timeout is train.collective_timeout_s of the recipe named here with its --set overrides.
        using var ranks = RankCollectives.Create(options);
        options = options with { Collectives = ranks };

        // Signals (SignalScope): until the trainer starts and after it returns, the first one ends the process
        // (130/143/138); while it runs, the trainer finishes the step and checkpoints.
        var cancel = SignalScope.Token;
        SignalScope.Hold("run:prepare");
        IDisposable? training = null;
        ITrainingObserver Phased(ITrainingObserver inner) => new TrainingPhaseObserver(inner, () => training ??= SignalScope.Training());
        RunResult result;
        try
        {
            // A live progress bar on a terminal; plain lines when output is redirected (logs, CI, tests) and under a
            // launcher with several ranks (mpirun hands each rank a pseudo-terminal, but the job's output is a log).
            bool interactive = ReferenceEquals(stdout, Console.Out) && !Console.IsOutputRedirected && ranks.WorldSize == 1;
            // Ranks > 0 print nothing of their own progress (rank 0 speaks for the job); their errors still reach stderr.
            result = interactive && ranks.Rank == 0
                ? ProgressObserver.Run(observer => RecipeRunner.Run(options, Phased(observer), cancel))
                : RecipeRunner.Run(options, Phased(ranks.Rank == 0 ? new ConsoleObserver(stdout) : NullTrainingObserver.Instance), cancel);
        }
        catch (Exception e) when (ranks.WorldSize > 1 && !cancel.IsCancellationRequested)
        {
            // One rank failed: end the whole job now (MPI_Abort, the reason on stderr) rather than leave the other
            // ranks waiting in their next collective until train.collective_timeout_s. Does not return.
            ranks.Abort($"{e.GetType().Name}: {e.Message}");
            throw;
        }
        finally
        {
            training?.Dispose();
        }
        if (result.Rank != 0) return 0;   // rank 0 reports and exports for the job
        stdout.WriteLine($"done: {result.State.Step} steps in {result.State.ElapsedSeconds:F1} s; run folder {result.RunDir}");
        if (!noExport && result.Recipe?.Export is { } export && result.LastCheckpoint is { } step && !cancel.IsCancellationRequested)
        {
            SignalScope.Hold("run:export");
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

/// <summary>Passes everything on and reports the trainer's start (<see cref="ITrainingObserver.OnStart"/>): the training phase begins.</summary>
internal sealed class TrainingPhaseObserver(ITrainingObserver inner, Action started) : ITrainingObserver
{
    public void OnStart(long startStep, long maxSteps)
    {
        started();
        inner.OnStart(startStep, maxSteps);
    }

    public void OnStep(long step, IReadOnlyDictionary<string, double> metrics) => inner.OnStep(step, metrics);
    public void OnEval(long step, IReadOnlyDictionary<string, double> metrics) => inner.OnEval(step, metrics);
    public void OnMessage(string message) => inner.OnMessage(message);
}
