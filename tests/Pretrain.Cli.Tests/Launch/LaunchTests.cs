using System.Text.Json;
using Pretrain.Cli.Tests.Signals;

namespace Pretrain.Cli.Tests.Launch;

/// <summary>
/// `pretrain launch` against the real mpirun: it prints the command it runs and returns the ranks' failure; a SIGTERM
/// to it reaches every rank as SIGUSR1 through mpirun, so the ranks finish one step, rank 0 checkpoints once and all
/// exit 0 (mpirun's own answer to SIGTERM would kill them a second later: docs/distributed.md).
/// </summary>
[Collection("launch")]
public sealed class LaunchTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(120);
    private static string Recipe => Path.Combine(CliRunner.RepoRoot, "recipes", "smoke", "gpt-tiny-clm.yaml");

    [Fact]
    public void Usage_errors_name_the_option()
    {
        var (code, _, err) = CliRunner.Run("launch", Recipe);
        Assert.Equal(2, code);
        Assert.Contains("needs --nproc N", err, StringComparison.Ordinal);
        (code, _, err) = CliRunner.Run("launch", "--nproc", "0", Recipe);
        Assert.Equal(2, code);
        Assert.Contains("--nproc must be a whole number of processes, 1 or more; got '0'", err, StringComparison.Ordinal);
        (code, _, err) = CliRunner.Run("launch", "--nproc", "2", "missing.yaml");
        Assert.Equal(1, code);
        Assert.Contains("Recipe file missing.yaml does not exist", err, StringComparison.Ordinal);
    }

    [ReferenceFact(ReferenceTool.Mpi)]
    public void Launch_prints_its_mpirun_command_and_returns_the_ranks_failure()
    {
        using var dir = new TempDir();
        // TERM names a terminal with a keypad mode: before Program.cs set TERM=dumb in a rank, the ranks' output (a pty under mpirun) began with ESC [?1h ESC =.
        using var child = new ChildCli(dir.Path, new Dictionary<string, string> { ["TERM"] = "xterm" }, "launch", "--nproc", "2", Recipe, "--run-dir", dir["run"], "--set", "train.max_steps=abc");
        int code = child.WaitForExit(Patience);
        Assert.True(code == 1, $"exit {code}:\n{child.Output}");
        string command = child.Output.Split('\n').Single(l => l.StartsWith("launch: ", StringComparison.Ordinal));
        Assert.Matches(@"^launch: (setsid )?mpirun (--allow-run-as-root )?--bind-to none --stdin none -np 2 \S*dotnet \S+/pretrain\.dll run \S+/gpt-tiny-clm\.yaml --run-dir \S+ --set train\.max_steps=abc$", command);
        Assert.Equal(Environment.UserName == "root", command.Contains("--allow-run-as-root", StringComparison.Ordinal));
        // The ranks ran and failed on the override (mpirun may end the second before it prints).
        Assert.Contains("train.max_steps must be an integer, got 'abc'", child.Output, StringComparison.Ordinal);
        Assert.False(Directory.Exists(dir["run/checkpoints"]));
        Assert.DoesNotContain("\u001b", child.Output, StringComparison.Ordinal);   // no terminal control sequence relayed
    }

    [ReferenceFact(ReferenceTool.Mpi)]
    public void Sigterm_to_launch_reaches_every_rank_as_sigusr1_one_checkpoint_all_exit_0()
    {
        using var dir = new TempDir();
        using var child = new ChildCli(dir.Path, null, "launch", "--nproc", "2", Recipe, "--run-dir", dir["run"], "--no-export",
            "--set", "train.max_steps=100000", "--set", "train.log_every=1", "--set", "train.checkpoint_every=100000",
            "--set", "train.eval_every=100000", "--set", "train.threads=1");
        // Rank 0 writes metrics.jsonl; its second training row means both ranks are in the training loop.
        WaitForStep(dir["run/metrics.jsonl"], 2, child);
        child.Signal(ChildCli.SigTerm);
        int code = child.WaitForExit(Patience);
        Assert.True(code == 0, $"exit {code}:\n{child.Output}");
        Assert.Contains("launch: SIGTERM: asking the 2 rank(s) to finish their step and checkpoint", child.Output, StringComparison.Ordinal);
        Assert.Contains("mpirun: Forwarding signal 10 to job", child.Output, StringComparison.Ordinal);
        Assert.Equal(2, Count(child.Output, "SIGUSR1: finishing the current step and writing a checkpoint"));   // every rank got it once
        var steps = Directory.GetDirectories(dir["run/checkpoints"], "step-*");
        Assert.True(steps.Length == 1, $"checkpoints: {string.Join(", ", steps.Select(Path.GetFileName))}\n{child.Output}");
        Assert.True(File.Exists(Path.Combine(steps[0], "model.safetensors")));
        Assert.Equal(Path.GetFileName(steps[0]), File.ReadAllText(dir["run/checkpoints/latest"]).Trim());
    }

    /// <summary>Waits (bounded) until a metrics.jsonl row has "step" ≥ <paramref name="step"/>.</summary>
    internal static void WaitForStep(string metrics, long step, ChildCli? child = null, Func<string>? context = null)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (DateTime.UtcNow < deadline)
        {
            if (LastStep(metrics) >= step) return;
            Thread.Sleep(100);
        }
        throw new Xunit.Sdk.XunitException($"{metrics} has no row with step >= {step} after {Patience.TotalSeconds} s; output:\n{child?.Output ?? context?.Invoke()}");
    }

    /// <summary>The largest "step" of the training rows written so far (a row being written is skipped).</summary>
    internal static long LastStep(string metrics)
    {
        if (!File.Exists(metrics)) return -1;
        long last = -1;
        using var stream = new FileStream(metrics, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream);
        while (reader.ReadLine() is { } line)
        {
            try
            {
                using var row = JsonDocument.Parse(line);
                if (row.RootElement.TryGetProperty("loss", out _) && row.RootElement.TryGetProperty("step", out var s)) last = Math.Max(last, s.GetInt64());
            }
            catch (JsonException) { }
        }
        return last;
    }

    private static int Count(string text, string what)
    {
        int n = 0;
        for (int i = text.IndexOf(what, StringComparison.Ordinal); i >= 0; i = text.IndexOf(what, i + what.Length, StringComparison.Ordinal)) n++;
        return n;
    }
}
