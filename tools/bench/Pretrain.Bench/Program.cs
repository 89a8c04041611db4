using System.Globalization;
using Pretrain.Data.Synthetic;
using Pretrain.Models.Text;
using Pretrain.Training.Recipes;
using static TorchSharp.torch;

namespace Pretrain.Bench;

/// <summary>
/// Training throughput on this CPU, all in one process at one torch thread count: the 1024³ fp32 matmul rate, a
/// bare TorchSharp loop, the trainer (RecipeRunner.Run) and the loader alone. Bare and trainer windows alternate
/// within each run (<see cref="PairedWindows"/>), repeats run everything again, and medians are reported.
/// Progress goes to stderr, the markdown table to stdout.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        BenchOptions options;
        try
        {
            options = BenchOptions.Parse(args);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine(e.Message);
            return 2;
        }
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        if (options.AutocastVsCast)
        {
            Console.Out.Write(AutocastBench.Run(options.Threads, windows: options.Repeats, window: options.Window));
            return 0;
        }
        if (options.Precision)
        {
            Console.Out.Write(PrecisionBench.Run(options.Threads, windows: options.Repeats, window: options.Window));
            return 0;
        }

        string recipePath = options.QuickstartRecipe ?? FindUp(Path.Combine("recipes", "quickstart.yaml"))
            ?? throw new FileNotFoundException("recipes/quickstart.yaml not found above the working directory; pass --recipe.");
        var quickstart = RecipeLoader.LoadFile(recipePath);
        var shapes = BenchShape.Defaults(quickstart, options.Threads, options.Window)
            .Where(s => options.Models is null || options.Models.Contains(s.Name))
            .ToList();

        set_num_threads(options.Threads);
        if (options.Optimizer)
        {
            var rows = shapes.Select(shape => OptimizerBench.Measure(shape, options.Repeats, options.Window)).ToList();
            Console.Out.Write(OptimizerBench.ToMarkdown(rows, options, options.Window));
            return 0;
        }
        string tempRoot = Path.Combine(Path.GetTempPath(), $"pretrain-bench-{Environment.ProcessId}");
        Directory.CreateDirectory(tempRoot);
        try
        {
            var report = Run(options, shapes, quickstart, tempRoot);
            Console.Out.Write(report.ToMarkdown());
            return 0;
        }
        finally
        {
            Directory.Delete(tempRoot, recursive: true);
        }
    }

    private static BenchReport Run(BenchOptions o, IReadOnlyList<BenchShape> shapes, Recipe quickstart, string tempRoot)
    {
        var s = quickstart.Data.Train.Synthetic ?? new SyntheticSection();
        var loaderFiles = SyntheticText.Write(Path.Combine(tempRoot, "data"), s.Rows, s.Shards, s.RowsPerGroup, s.Seed);
        int loaderBlock = shapes.Count > 0 ? shapes.Max(x => x.SeqLen) : quickstart.Train.SeqLen;
        long loaderTokens = o.Quick ? 500_000 : 2_000_000;

        var report = new BenchReport(o, shapes.Select(Describe).ToList(), loaderBlock);
        Log($"threads {o.Threads} (torch {get_num_threads()}), {o.Repeats} repeats, window {o.Window} steps{(o.Quick ? ", quick" : "")}");
        for (int r = 0; r < o.Repeats; r++)
        {
            var load = new LoadMonitor();
            Matmul(r);
            foreach (var (shape, row) in shapes.Zip(report.Rows))
            {
                int windows = o.Quick ? shape.QuickWindows : shape.Windows;
                var m = TrainerBench.Measure(shape, windows, o.Window, tempRoot);
                row.Add(m);
                Log($"[{r + 1}/{o.Repeats}] {shape.Name}: bare {row.Bare[^1]:F0} tok/s, trainer {row.Trainer[^1]:F0} tok/s " +
                    $"(end to end {m.EndToEndTokensPerS:F0} tok/s, {m.EndToEndSeconds:F1} s)");
                Matmul(r);
            }
            double loader = LoaderBench.Measure(loaderFiles, loaderBlock, loaderTokens);
            report.LoaderTokensPerS.Add(loader);
            Log($"[{r + 1}/{o.Repeats}] loader {loader:F0} tok/s");
            report.OthersLoad.Add(load.OthersShare());
            Log($"[{r + 1}/{o.Repeats}] other processes used {report.OthersLoad[^1]:P0} of the CPUs during this repeat");
        }
        return report;

        // The reference rate is sampled before and after every model, so it sees the same spells of noise.
        void Matmul(int r)
        {
            double gflops = MatmulBench.Measure();
            report.MatmulGflops.Add(gflops);
            Log($"[{r + 1}/{o.Repeats}] matmul {gflops:F1} GFLOP/s");
        }
    }

    private static ShapeResults Describe(BenchShape shape)
    {
        var config = shape.ModelConfig();
        using var model = new DecoderLm(config);
        long noPos = model.ParameterCount(excludePositionEmbeddings: true);
        return new ShapeResults(shape, model.ParameterCount(), BenchShape.FlopsPerToken(config, noPos, shape.SeqLen));
    }

    /// <summary>The first <paramref name="relative"/> found walking up from the working directory, then from the binary.</summary>
    private static string? FindUp(string relative)
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var d = new DirectoryInfo(start); d is not null; d = d.Parent)
            {
                string p = Path.Combine(d.FullName, relative);
                if (File.Exists(p)) return p;
            }
        }
        return null;
    }

    private static void Log(string message) => Console.Error.WriteLine($"{DateTime.Now:HH:mm:ss} {message}");
}
