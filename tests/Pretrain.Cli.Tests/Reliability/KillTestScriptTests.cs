using System.Diagnostics;

namespace Pretrain.Cli.Tests.Reliability;

/// <summary>
/// The CI version of tools/reliability/kill-test.sh: three SIGKILLs of a smoke run at seeded random moments, each
/// resumed with --resume auto; the final weights must equal an uninterrupted run's bit for bit and every checkpoint
/// left must pass its manifest. (docs/signals-and-faults.md has the 20-kill figures.)
/// </summary>
public sealed class KillTestScriptTests
{
    [Fact]
    public async Task Three_sigkills_then_resume_give_the_uninterrupted_runs_weights_bitwise()
    {
        string root = CliRunner.RepoRoot;
        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";
        using var work = new TempDir();
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = root };
        start.ArgumentList.Add(Path.Combine(root, "tools", "reliability", "kill-test.sh"));
        start.ArgumentList.Add("3");
        start.ArgumentList.Add("7");
        start.Environment["PRETRAIN"] = $"{dotnet} {Path.Combine(AppContext.BaseDirectory, "pretrain.dll")}";
        start.Environment["KILL_STEPS"] = "6";
        start.Environment["KILL_WORK"] = work["kill"];
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(4)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"kill-test.sh ran for more than 4 minutes:\n{await stdout}");
        }
        string output = await stdout + await stderr;
        Assert.True(process.ExitCode == 0, $"kill-test.sh failed (exit {process.ExitCode}):\n{output}");
        Assert.Contains("final weights bitwise equal", output, StringComparison.Ordinal);
        Assert.Matches(@"kill-test: [123]/3 kills landed in a running process", output);
    }
}
