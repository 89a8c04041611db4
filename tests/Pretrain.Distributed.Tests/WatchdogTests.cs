using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Pretrain.Distributed.Tests;

/// <summary>
/// A rank that never arrives at a collective ends the job within the timeout: one line names it (pid and host) and
/// the collective, every rank exits, mpirun exits non-zero.
/// </summary>
public sealed partial class WatchdogTests
{
    private const int TimeoutS = 5;

    [ReferenceTheory(ReferenceTool.Mpi)]
    [InlineData("stop", 2)] // rank 1 stops itself with SIGSTOP
    [InlineData("skip", 3)] // rank 1 sleeps outside any collective; rank 2 arrived and must not be named
    public void A_rank_that_does_not_arrive_is_named_within_the_timeout_and_every_rank_exits_non_zero(string scenario, int world)
    {
        ReferenceTools.Require(ReferenceTool.Mpi);
        var (code, raw, elapsed) = MpiRun.Probe(world, [scenario, TimeoutS.ToString(System.Globalization.CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(90));

        // .NET's console writes a keypad-mode escape when its output is mpirun's pseudo-terminal; drop escapes.
        string output = Escape().Replace(raw, "");
        Assert.True(code != 0 && code != -1, $"mpirun exited {code}:\n{output}");
        var ready = ReadyLine().Matches(output).ToDictionary(m => int.Parse(m.Groups[1].Value), m => int.Parse(m.Groups[2].Value));
        Assert.Equal(world, ready.Count);
        var reports = output.Split('\n').Where(l => l.Contains("did not complete within", StringComparison.Ordinal)).ToList();
        Assert.True(reports.Count == 1, $"expected one report line:\n{output}");
        // Sequence 1 is the start-up exchange of pids and hosts, 2 the first all-reduce, 3 the one rank 1 misses.
        Assert.Matches($"^collective all_reduce #3 did not complete within {TimeoutS} s on rank 0: rank 1 has not arrived \\(rank 1: pid {ready[1]} on host [^)]+\\)$", reports[0].Trim());
        Assert.DoesNotContain("completed, which it must not", output);
        // Start-up (~2–4 s of .NET and libtorch per rank) + the timeout + mpirun's teardown; far below the 90 s limit.
        Assert.True(elapsed < TimeSpan.FromSeconds(TimeoutS + 25), $"took {elapsed.TotalSeconds:0.0} s");
        // mpirun may exit a moment before the kernel has finished killing its ranks: allow 5 s.
        var gone = Stopwatch.StartNew();
        while (ready.Values.Any(IsRunning) && gone.Elapsed < TimeSpan.FromSeconds(5)) Thread.Sleep(100);
        foreach (int pid in ready.Values) Assert.False(IsRunning(pid), $"pid {pid} still runs 5 s after mpirun exited");
    }

    private static bool IsRunning(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    [GeneratedRegex(@"\x1b(\[[0-9;?]*[A-Za-z]|=|>)")]
    private static partial Regex Escape();

    [GeneratedRegex(@"rank (\d+): pid (\d+) ready")]
    private static partial Regex ReadyLine();
}
