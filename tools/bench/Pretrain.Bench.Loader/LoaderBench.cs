using System.Diagnostics;
using System.Globalization;
using Pretrain.Data.Datasets;
using Pretrain.Data.Sources;
using Pretrain.Data.Synthetic;
using Pretrain.Data.Text;

namespace Pretrain.Bench.Loader;

/// <summary>
/// Loader benchmark. Writes synthetic Parquet shards, then measures, interleaved, median of R repeats:
/// (a) the GPT-2 tiktoken tokenizer alone over the same texts (one thread — the stream's producer is one thread);
/// (b) Parquet → tokenize (GPT-2) → packed blocks through <see cref="PackedTextStream"/>;
/// (c) the same with the byte tokenizer;
/// (d) peak working set while streaming, in a fresh child process per dataset size, for two sizes (bounded
/// prefetch means it should not grow with the data).
/// (e–h) image decode + augment, images/s (see <see cref="ImageBench"/>; --images 0 leaves them out, --images-only runs only them).
/// Prints markdown tables and the ratio (b)/(a).
/// </summary>
public static class LoaderBench
{
    private const string ProbeFlag = "--probe";

    public static int Run(string[] args, TextWriter o)
    {
        var opts = Options.Parse(args);
        if (opts.Probe is { } probeDir)
        {
            return Probe(probeDir, opts, o);
        }

        string root = Path.Combine(Path.GetTempPath(), $"pretrain-loader-bench-{Environment.ProcessId}");
        try
        {
            return Bench(root, opts, o);
        }
        finally
        {
            if (Directory.Exists(root))
            {
                Directory.Delete(root, recursive: true);
            }
        }
    }

    private static int Bench(string root, Options opts, TextWriter o)
    {
        var sw = Stopwatch.StartNew();
        Directory.CreateDirectory(root);
        if (opts.ImagesOnly)
        {
            o.WriteLine("# Loader benchmark (images)");
            o.WriteLine();
            o.WriteLine($"{opts.Repeats} interleaved repeats, median; {Environment.ProcessorCount} cores");
            ImageBench.Run(root, opts.Images, opts.Jpegs, opts.Repeats, opts.ImageFiles, o);
            o.WriteLine($"total {sw.Elapsed.TotalSeconds:0} s");
            return 0;
        }

        string small = Path.Combine(root, "small");
        // (a)–(c) run on real text when --text-files names Parquet files with a `text` column, else on synthetic shards.
        var files = opts.TextFiles is { } glob
            ? FileResolver.Resolve([glob], "--text-files")
            : SyntheticText.Write(small, opts.Rows, opts.Shards, opts.RowsPerGroup, seed: 1);
        long bytes = files.Sum(f => new FileInfo(f).Length);
        var texts = ReadTexts(files);
        int rows = texts.Count;
        o.WriteLine($"# Loader benchmark");
        o.WriteLine();
        o.WriteLine(opts.TextFiles is null
            ? $"{opts.Rows:N0} synthetic rows, {opts.Shards} file(s), {opts.RowsPerGroup:N0} rows/row group " +
              $"({opts.Rows / opts.RowsPerGroup} row groups), {bytes / 1024.0 / 1024:0.0} MiB Parquet; block {opts.Block}, " +
              $"{opts.Repeats} interleaved repeats, median; {Environment.ProcessorCount} cores; written in {sw.Elapsed.TotalSeconds:0.0} s"
            : $"{rows:N0} rows of real text from {files.Count} file(s) ({opts.TextFiles}), {bytes / 1024.0 / 1024:0.0} MiB Parquet; " +
              $"block {opts.Block}, {opts.Repeats} interleaved repeats, median; {Environment.ProcessorCount} cores");
        o.WriteLine();

        long chars = texts.Sum(t => (long)t.Length);
        var gpt2 = TokenizerFactory.Create("tiktoken", "gpt2", "<|endoftext|>");
        var bytesTok = TokenizerFactory.Create("byte", null, "<|endoftext|>");

        // Warm-up (JIT, tokenizer caches, file cache), not timed.
        TokenizeAll(gpt2, texts.Take(2000));
        Stream(files, bytesTok, opts.Block);

        var a = new List<Sample>();
        var b = new List<Sample>();
        var c = new List<Sample>();
        for (int r = 0; r < opts.Repeats; r++)
        {
            a.Add(Time(() => TokenizeAll(gpt2, texts)));
            b.Add(Time(() => Stream(files, gpt2, opts.Block)));
            c.Add(Time(() => Stream(files, bytesTok, opts.Block)));
        }

        o.WriteLine("| measurement | median s | tokens | M tokens/s | rows/s | MB text/s |");
        o.WriteLine("| --- | ---: | ---: | ---: | ---: | ---: |");
        Row(o, "(a) GPT-2 tokenizer alone, 1 thread, texts in memory", a, rows, chars);
        Row(o, "(b) Parquet → GPT-2 → packed blocks (PackedTextStream)", b, rows, chars);
        Row(o, "(c) Parquet → byte tokenizer → packed blocks", c, rows, chars);
        double ratio = Median(b) / Median(a);
        o.WriteLine();
        o.WriteLine($"ratio (b)/(a) time = {ratio:0.00} (1.00 means the loader costs no more than tokenizing; " +
            $"the stream's tokens exclude the dropped tail and include one EOS per row)");
        o.WriteLine();

        if (opts.Images > 0)
        {
            ImageBench.Run(root, opts.Images, opts.Jpegs, opts.Repeats, opts.ImageFiles, o);
        }

        // (d) memory: fresh child processes, so peaks are not polluted by this process's in-memory texts.
        string large = Path.Combine(root, "large");
        int largeRows = opts.Rows * opts.MemoryScale;
        SyntheticText.Write(large, largeRows, opts.Shards, opts.RowsPerGroup, seed: 2);
        o.WriteLine("| (d) peak while streaming (gpt2, fresh process) | rows | peak working set MiB | peak GC heap MiB | blocks |");
        o.WriteLine("| --- | ---: | ---: | ---: | ---: |");
        foreach (var (dir, n) in new[] { (small, opts.Rows), (large, largeRows) })
        {
            o.WriteLine($"| {Path.GetFileName(dir)} | {n:N0} | {RunProbe(dir, opts)} |");
        }

        o.WriteLine();
        o.WriteLine($"total {sw.Elapsed.TotalSeconds:0} s");
        return 0;
    }

    private readonly record struct Sample(double Seconds, long Tokens);

    private static Sample Time(Func<long> work)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var sw = Stopwatch.StartNew();
        long tokens = work();
        return new Sample(sw.Elapsed.TotalSeconds, tokens);
    }

    private static double Median(List<Sample> s) => s.Select(x => x.Seconds).Order().ElementAt(s.Count / 2);

    private static void Row(TextWriter o, string name, List<Sample> s, int rows, long chars)
    {
        double t = Median(s);
        long tokens = s[0].Tokens;
        o.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| {name} | {t:0.000} | {tokens:N0} | {tokens / t / 1e6:0.00} | {rows / t:N0} | {chars / t / 1e6:0.0} |"));
    }

    private static List<string> ReadTexts(IReadOnlyList<string> files)
    {
        using var source = ParquetTextSource.Open(files, "text");
        return source.Units.SelectMany(u => source.ReadRowGroupAsync(u.File, u.RowGroup).GetAwaiter().GetResult())
            .Where(t => !string.IsNullOrEmpty(t)).Select(t => t!).ToList();
    }

    private static long TokenizeAll(ITextTokenizer tokenizer, IEnumerable<string> texts)
    {
        long n = 0;
        foreach (string t in texts)
        {
            n += tokenizer.Encode(t).Length + 1; // + EOS, as the stream counts it
        }

        return n;
    }

    private static long Stream(IReadOnlyList<string> files, ITextTokenizer tokenizer, int block)
    {
        using var stream = new PackedTextStream(new PackedTextOptions { Files = files, BlockSize = block, Seed = 7, MaxEpochs = 1 }, tokenizer);
        long blocks = 0;
        while (stream.TryNext(out _, out _))
        {
            blocks++;
        }

        return (blocks * block) + 1;
    }

    /// <summary>Child process: stream every file under a folder once with GPT-2, print peaks.</summary>
    private static int Probe(string dir, Options opts, TextWriter o)
    {
        var files = FileResolver.Resolve([dir], "probe");
        var gpt2 = TokenizerFactory.Create("tiktoken", "gpt2", "<|endoftext|>");
        long peakHeap = 0;
        using var stream = new PackedTextStream(new PackedTextOptions { Files = files, BlockSize = opts.Block, Seed = 7, MaxEpochs = 1 }, gpt2);
        long blocks = 0;
        while (stream.TryNext(out _, out _))
        {
            if (++blocks % 64 == 0)
            {
                peakHeap = Math.Max(peakHeap, GC.GetTotalMemory(false));
            }
        }

        using var self = Process.GetCurrentProcess();
        o.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{self.PeakWorkingSet64 / 1048576.0:0} | {peakHeap / 1048576.0:0} | {blocks:N0}"));
        return 0;
    }

    private static string RunProbe(string dir, Options opts)
    {
        string exe = Environment.ProcessPath!;
        var info = new ProcessStartInfo(exe) { RedirectStandardOutput = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(exe) == "dotnet")
        {
            info.ArgumentList.Add(typeof(LoaderBench).Assembly.Location);
        }

        foreach (string arg in new[] { ProbeFlag, dir, "--block", opts.Block.ToString(CultureInfo.InvariantCulture) })
        {
            info.ArgumentList.Add(arg);
        }

        using var child = Process.Start(info)!;
        string line = child.StandardOutput.ReadToEnd().Trim();
        child.WaitForExit();
        return child.ExitCode == 0 ? line : $"probe failed (exit {child.ExitCode}) | | ";
    }

    private sealed record Options(int Rows, int RowsPerGroup, int Shards, int Repeats, int Block, int MemoryScale, string? Probe)
    {
        /// <summary>28×28 PNGs for the image rows (0 leaves them out).</summary>
        public int Images { get; init; } = 20_000;

        /// <summary>256×256 JPEGs for the 224 row.</summary>
        public int Jpegs { get; init; } = 400;

        /// <summary>Image shards to use instead of synthetic 28×28 PNGs (e.g. .cache/data/fashion-mnist/train).</summary>
        public string? ImageFiles { get; init; }
        public string? TextFiles { get; init; }

        public bool ImagesOnly { get; init; }

        public static Options Parse(string[] args)
        {
            var o = new Options(40_000, 2_000, 2, 5, 1024, 4, null);
            for (int i = 0; i < args.Length; i++)
            {
                string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
                int Int() => int.Parse(Next(), CultureInfo.InvariantCulture);
                o = args[i] switch
                {
                    "--rows" => o with { Rows = Int() },
                    "--rows-per-group" => o with { RowsPerGroup = Int() },
                    "--shards" => o with { Shards = Int() },
                    "--repeats" => o with { Repeats = Int() },
                    "--block" => o with { Block = Int() },
                    "--memory-scale" => o with { MemoryScale = Int() },
                    "--images" => o with { Images = Int() },
                    "--jpegs" => o with { Jpegs = Int() },
                    "--image-files" => o with { ImageFiles = Next() },
                    "--text-files" => o with { TextFiles = Next() },
                    "--images-only" => o with { ImagesOnly = true },
                    ProbeFlag => o with { Probe = Next() },
                    _ => throw new ArgumentException(
                        $"unknown option {args[i]}; options: --rows N --rows-per-group N --shards N --repeats N --block N --memory-scale K " +
                        "--images N --jpegs N --image-files GLOB --images-only"),
                };
            }

            return o;
        }
    }
}
