using Pretrain.Cli.Tests.Signals;

namespace Pretrain.Cli.Tests.Launch;

/// <summary>
/// tools/slurm/pretrain.sbatch on a real one-node SLURM cluster (tools/slurm/local-cluster.sh) with 2 tasks: the job
/// trains, gets SIGUSR1 through `scancel --signal=USR1 --batch` (what --signal=B:USR1@120 sends before a time
/// limit), checkpoints, requeues itself, resumes with --resume auto and ends with the same weights, byte for byte, as
/// an uninterrupted 2-rank run.
/// </summary>
[Collection("launch")]
public sealed class SlurmTests
{
    private const int Steps = 150;
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(180);
    private static string Recipe => Path.Combine(CliRunner.RepoRoot, "recipes", "smoke", "gpt-tiny-clm.yaml");
    private static readonly string[] Sets =
    [
        "--no-export", "--set", $"train.max_steps={Steps}", "--set", "train.log_every=1", "--set", "train.checkpoint_every=100000",
        "--set", "train.eval_every=100000", "--set", "train.threads=1",
    ];

    [ReferenceFact(ReferenceTool.Slurm, ReferenceTool.Mpi)]
    public void Sbatch_job_stopped_by_usr1_checkpoints_requeues_resumes_and_ends_with_the_uninterrupted_weights()
    {
        using var slurm = new LocalSlurm();
        using var dir = new TempDir();
        // The uninterrupted 2-rank run.
        using (var reference = new ChildCli(dir.Path, null, ["launch", "--nproc", "2", Recipe, "--run-dir", dir["ref"], .. Sets]))
        {
            int code = reference.WaitForExit(Patience);
            Assert.True(code == 0, $"the reference run failed (exit {code}):\n{reference.Output}");
        }

        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";
        var env = new Dictionary<string, string> { ["PRETRAIN"] = $"{dotnet} {Path.Combine(AppContext.BaseDirectory, "pretrain.dll")}" };
        string script = Path.Combine(CliRunner.RepoRoot, "tools", "slurm", "pretrain.sbatch");
        var (submitted, submitOutput) = slurm.Run("sbatch",
            ["--parsable", "--ntasks-per-node=2", $"--output={dir["job-%j.out"]}", script, Recipe, "--run-dir", dir["run"], .. Sets],
            workingDirectory: dir.Path, environment: env);
        Assert.True(submitted == 0, $"sbatch failed (exit {submitted}): {submitOutput}\n{slurm.Logs()}");
        string job = submitOutput.Trim().Split(';')[0];
        string JobOutput() => File.Exists(dir[$"job-{job}.out"]) ? File.ReadAllText(dir[$"job-{job}.out"]) : "(no job output yet)";
        string Context() => $"job {job}: {slurm.Job(job)}\n--- job output\n{JobOutput()}\n{slurm.Logs()}";
        bool finished = false;
        try
        {
            LaunchTests.WaitForStep(dir["run/metrics.jsonl"], 2, context: Context);
            var (signalled, signalOutput) = slurm.Run("scancel", ["--signal=USR1", "--batch", job]);
            Assert.True(signalled == 0, $"scancel failed: {signalOutput}\n{Context()}");

            var deadline = DateTime.UtcNow + Patience;
            (string State, int Restarts) state = ("", 0);
            while (DateTime.UtcNow < deadline)
            {
                state = slurm.Job(job);
                if (state.State is "COMPLETED" or "FAILED" or "CANCELLED" or "TIMEOUT" or "NODE_FAIL" or "OUT_OF_MEMORY" or "BOOT_FAIL" or "DEADLINE" or "PREEMPTED") break;
                Thread.Sleep(250);
            }
            finished = state.State is not ("RUNNING" or "PENDING" or "REQUEUED" or "COMPLETING" or "CONFIGURING");
            Assert.True(state == ("COMPLETED", 1), $"expected COMPLETED after one requeue, got {state.State} after {state.Restarts} restart(s)\n{Context()}");
        }
        finally
        {
            if (!finished) slurm.Run("scancel", [job]);
        }

        string output = JobOutput();
        Assert.Contains("restart count 0", output, StringComparison.Ordinal);
        Assert.Contains("pretrain.sbatch: SIGUSR1: asking every rank to finish its step and checkpoint (SIGUSR1 to srun)", output, StringComparison.Ordinal);
        Assert.Equal(2, output.Split('\n').Count(l => l.Contains("SIGUSR1: finishing the current step", StringComparison.Ordinal)));   // both ranks, once
        Assert.Contains("requeueing job", output, StringComparison.Ordinal);
        Assert.Contains("restart count 1", output, StringComparison.Ordinal);
        Assert.Matches(@"resuming from step-0*[1-9]\d*", output);
        // One checkpoint from the stop (before the last step) and the final one.
        var steps = Directory.GetDirectories(dir["run/checkpoints"], "step-*").Select(Path.GetFileName).Order().ToList();
        Assert.True(steps.Count == 2 && steps[1] == $"step-{Steps:D8}" && steps[0] != steps[1], $"checkpoints: {string.Join(", ", steps)}\n{output}");
        byte[] want = File.ReadAllBytes(dir[$"ref/checkpoints/step-{Steps:D8}/model.safetensors"]);
        byte[] got = File.ReadAllBytes(dir[$"run/checkpoints/step-{Steps:D8}/model.safetensors"]);
        Assert.True(want.AsSpan().SequenceEqual(got), $"the requeued job's final weights differ from the uninterrupted run's\n{output}");
    }

    /// <summary>
    /// SIGTERM to the batch shell alone (`scancel --signal=TERM --batch`): the script passes SIGUSR1 to srun (SIGTERM
    /// would make srun kill the tasks), both ranks finish the same step, rank 0 writes one checkpoint, all exit 0, and
    /// the job ends COMPLETED without a requeue (SIGTERM means "end", SIGUSR1 "requeue").
    /// </summary>
    [ReferenceFact(ReferenceTool.Slurm, ReferenceTool.Mpi)]
    public void Sigterm_to_the_batch_shell_checkpoints_through_sigusr1_and_ends_the_job_without_a_requeue()
    {
        using var slurm = new LocalSlurm();
        using var dir = new TempDir();
        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";
        var env = new Dictionary<string, string> { ["PRETRAIN"] = $"{dotnet} {Path.Combine(AppContext.BaseDirectory, "pretrain.dll")}" };
        string script = Path.Combine(CliRunner.RepoRoot, "tools", "slurm", "pretrain.sbatch");
        var (submitted, submitOutput) = slurm.Run("sbatch",
            ["--parsable", "--ntasks-per-node=2", $"--output={dir["job-%j.out"]}", script, Recipe, "--run-dir", dir["run"],
             .. Sets.Select(a => a == $"train.max_steps={Steps}" ? "train.max_steps=100000" : a)],
            workingDirectory: dir.Path, environment: env);
        Assert.True(submitted == 0, $"sbatch failed (exit {submitted}): {submitOutput}\n{slurm.Logs()}");
        string job = submitOutput.Trim().Split(';')[0];
        string JobOutput() => File.Exists(dir[$"job-{job}.out"]) ? File.ReadAllText(dir[$"job-{job}.out"]) : "(no job output yet)";
        string Context() => $"job {job}: {slurm.Job(job)}\n--- job output\n{JobOutput()}\n{slurm.Logs()}";
        (string State, int Restarts) state = ("", 0);
        try
        {
            LaunchTests.WaitForStep(dir["run/metrics.jsonl"], 2, context: Context);
            var (signalled, signalOutput) = slurm.Run("scancel", ["--signal=TERM", "--batch", job]);
            Assert.True(signalled == 0, $"scancel failed: {signalOutput}\n{Context()}");
            var deadline = DateTime.UtcNow + Patience;
            while (DateTime.UtcNow < deadline)
            {
                state = slurm.Job(job);
                if (state.State is not ("RUNNING" or "PENDING" or "REQUEUED" or "COMPLETING" or "CONFIGURING" or "")) break;
                Thread.Sleep(250);
            }
            Assert.True(state == ("COMPLETED", 0), $"expected COMPLETED without a requeue, got {state.State} after {state.Restarts} restart(s)\n{Context()}");
        }
        finally
        {
            if (state.State != "COMPLETED") slurm.Run("scancel", [job]);
        }
        string output = JobOutput();
        Assert.Contains("pretrain.sbatch: SIGTERM: asking every rank to finish its step and checkpoint (SIGUSR1 to srun)", output, StringComparison.Ordinal);
        Assert.Equal(2, output.Split('\n').Count(l => l.Contains("SIGUSR1: finishing the current step", StringComparison.Ordinal)));   // both ranks, once
        Assert.Contains("ranks stopped (exit 0) after SIGTERM; not requeueing", output, StringComparison.Ordinal);
        Assert.DoesNotContain("requeueing job", output, StringComparison.Ordinal);
        var steps = Directory.GetDirectories(dir["run/checkpoints"], "step-*");
        Assert.True(steps.Length == 1 && File.Exists(Path.Combine(steps[0], "model.safetensors")), $"checkpoints: {string.Join(", ", steps.Select(Path.GetFileName))}\n{output}");
    }
}
