using System.Diagnostics;
using System.Globalization;

namespace Pretrain.Fuzz;

/// <summary>Totals of one target's run.</summary>
public sealed record FuzzResult(string Target, int Inputs, int Accepted, int Refused, int Crashes, int OverLimit,
    double SlowestMs, long PeakRssBytes, IReadOnlyDictionary<string, (int Count, string Example)> Signatures)
{
    /// <summary>Most bytes allocated on the managed heap while one input ran, and that input's number.</summary>
    public (long Bytes, int Input) MaxAllocation { get; init; }

    /// <summary>Managed heap after a full compacting collection at the end (what is still live: caches, pools).</summary>
    public long HeapAfterFullGcBytes { get; init; }

    /// <summary>RSS after that collection.</summary>
    public long RssAfterFullGcBytes { get; init; }
}

/// <summary>
/// Runs one target for a number of inputs from a seed: each input is written into a fresh folder and read; the
/// outcome is classified (<see cref="OutcomeRule"/>). Crashers are kept (first three of each signature) under
/// <c>outDir</c>. A watchdog ends the process if one input runs past <c>hangSeconds</c>, keeping that input.
/// </summary>
public static class FuzzRunner
{
    public static FuzzResult Run(IFuzzTarget target, int inputs, int seed, string workDir, string? outDir,
        double limitSeconds = 5, double hangSeconds = 60, TextWriter? log = null)
    {
        var random = new Random(seed);
        target.Prepare(workDir);
        string inputDir = Path.Combine(workDir, "input-" + target.Name);
        var signatures = new Dictionary<string, (int Count, string Example)>();
        int accepted = 0, refused = 0, crashes = 0, over = 0;
        double slowest = 0;
        (long Bytes, int Input) maxAllocation = (0, -1);
        ResetPeakRss();
        FuzzInput? current = null;
        var clock = new Stopwatch();
        using var watchdog = new Timer(_ =>
        {
            if (clock.IsRunning && clock.Elapsed.TotalSeconds > hangSeconds && current is not null)
            {
                Keep(outDir, target.Name, "hang", current, $"input ran past {hangSeconds} s");
                Console.Error.WriteLine($"{target.Name}: an input ran past {hangSeconds} s; kept under {outDir}; stopping.");
                Environment.Exit(3);
            }
        }, null, 1000, 1000);

        for (int i = 0; i < inputs; i++)
        {
            current = target.Next(random);
            if (Directory.Exists(inputDir))
                Directory.Delete(inputDir, recursive: true);
            Directory.CreateDirectory(inputDir);
            foreach (var (name, bytes) in current.Files)
                File.WriteAllBytes(Path.Combine(inputDir, name), bytes);

            long allocatedBefore = GC.GetTotalAllocatedBytes(precise: false);
            clock.Restart();
            Exception? error = null;
            try
            {
                target.Run(current, inputDir);
            }
            catch (Exception e)
            {
                error = e;
            }

            clock.Stop();
            long allocated = GC.GetTotalAllocatedBytes(precise: false) - allocatedBefore;
            if (allocated > maxAllocation.Bytes)
            {
                maxAllocation = (allocated, i);
                if (allocated > BigAllocation)
                    Keep(outDir, target.Name, "big-allocation", current, $"{allocated / (1 << 20)} MiB allocated");
            }

            double ms = clock.Elapsed.TotalMilliseconds;
            slowest = Math.Max(slowest, ms);
            if (ms > limitSeconds * 1000)
            {
                over++;
                Keep(outDir, target.Name, $"slow-{over}", current, $"{ms:F0} ms");
            }

            if (error is null)
            {
                accepted++;
                continue;
            }

            var (outcome, why) = OutcomeRule.Classify(error, target.Names(current));
            if (outcome == Outcome.Refused)
            {
                refused++;
                continue;
            }

            crashes++;
            string signature = $"{why}: {OutcomeRule.Signature(error)}";
            int seen = signatures.TryGetValue(signature, out var s) ? s.Count : 0;
            signatures[signature] = (seen + 1, seen == 0 ? Flat(error) : s.Example);
            if (seen < 3)
                Keep(outDir, target.Name, $"crash-{signatures.Count}-{seen}", current, $"{signature}\n{error}");
            if (i % 1000 == 0)
                log?.WriteLine($"{target.Name}: {i} inputs, {crashes} crashes");
        }

        long peak = PeakRss();
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        return new FuzzResult(target.Name, inputs, accepted, refused, crashes, over, slowest, peak, signatures)
        {
            MaxAllocation = maxAllocation,
            HeapAfterFullGcBytes = GC.GetGCMemoryInfo(GCKind.FullBlocking).HeapSizeBytes,
            RssAfterFullGcBytes = Rss(),
        };
    }

    private static string Flat(Exception e) => $"{e.GetType().Name}: {e.Message}".ReplaceLineEndings(" ")[..Math.Min(300, $"{e.GetType().Name}: {e.Message}".Length)];

    private static void Keep(string? outDir, string target, string name, FuzzInput input, string what)
    {
        if (outDir is null)
            return;
        string dir = Path.Combine(outDir, $"{target}-{name}");
        Directory.CreateDirectory(dir);
        foreach (var (file, bytes) in input.Files)
            File.WriteAllBytes(Path.Combine(dir, file), bytes);
        File.WriteAllText(Path.Combine(dir, "why.txt"), $"sets: {string.Join(" | ", input.Sets)}\n{what}\n");
    }

    /// <summary>Linux: writing 5 to clear_refs resets the peak RSS (VmHWM) of this process.</summary>
    private static void ResetPeakRss()
    {
        GC.Collect();
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    /// <summary>An input allocating more than this is kept (as big-allocation, the latest largest) for replay.</summary>
    private const long BigAllocation = 256L << 20;

    /// <summary>VmHWM from /proc/self/status (bytes), 0 where unknown.</summary>
    public static long PeakRss() => Status("VmHWM:");

    /// <summary>VmRSS from /proc/self/status (bytes), 0 where unknown.</summary>
    public static long Rss() => Status("VmRSS:");

    private static long Status(string key)
    {
        try
        {
            string? line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith(key, StringComparison.Ordinal));
            return line is null ? 0 : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
        }
        catch (IOException)
        {
            return 0;
        }
    }
}
