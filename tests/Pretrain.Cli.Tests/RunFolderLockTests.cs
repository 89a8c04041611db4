using System.Diagnostics;

namespace Pretrain.Cli.Tests;

/// <summary>One writer per run folder and per --out: a second `pretrain` process is refused naming the holder, and the lock goes with the holder's death.</summary>
[Collection("torch")]
public sealed class RunFolderLockTests
{
    private static readonly string Smoke = Path.Combine(CliRunner.RepoRoot, "recipes", "smoke", "llama-tiny-clm.yaml");

    [Fact]
    public void A_second_run_on_a_run_folder_another_process_trains_in_is_refused_until_that_process_dies()
    {
        using var dir = new TempDir();
        // The first writer is a real second process: `pretrain run` whose training file is a FIFO nobody writes, so it
        // blocks opening its data after it has set up (and locked) the run folder, and stays there until killed.
        string fifo = dir["blocked.parquet"];
        Exec("mkfifo", fifo);
        File.WriteAllText(dir["blocked.yaml"], File.ReadAllText(Smoke)
            .Replace("train: {synthetic: {kind: text, rows: 200, shards: 2, rows_per_group: 25, seed: 1}}", $"train: {{files: ['{fifo}']}}", StringComparison.Ordinal)
            .Replace("eval: {fraction: 0.1, max_batches: 2}", "eval: null", StringComparison.Ordinal));
        using var holder = StartCli("run", dir["blocked.yaml"], "--run-dir", dir["run"]);
        try
        {
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (DateTime.UtcNow < deadline && !holder.HasExited && !IsHeld(dir["run/.lock"]))
                Thread.Sleep(100);
            Assert.False(holder.HasExited, holder.HasExited ? holder.StandardError.ReadToEnd() : "");

            var second = CliRunner.Run("run", Smoke, "--run-dir", dir["run"], "--resume", "auto");
            Assert.Equal(1, second.Code);
            Assert.Contains($"pid {holder.Id} on host {Environment.MachineName}", second.Err, StringComparison.Ordinal);
            Assert.Single(second.Err.Trim().Split('\n'));
            Assert.False(Directory.Exists(dir["run/checkpoints"]));
        }
        finally
        {
            holder.Kill(entireProcessTree: true);   // SIGKILL: no chance to unlock; the kernel must
            holder.WaitForExit();
        }

        var after = CliRunner.Run("run", Smoke, "--run-dir", dir["run"], "--resume", "auto");
        Assert.True(after.Code == 0, after.Err);
    }

    [Fact]
    public void A_run_removes_its_own_stale_temp_files_and_nothing_else()
    {
        using var dir = new TempDir();
        string checkpoints = dir["run/checkpoints"];
        Directory.CreateDirectory(Path.Combine(checkpoints, "step-00000099.tmp"));
        File.WriteAllText(Path.Combine(checkpoints, "step-00000099.tmp", "model.safetensors"), "half written");
        File.WriteAllText(Path.Combine(checkpoints, "latest.tmp"), "step-00000099\n");
        File.WriteAllText(Path.Combine(checkpoints, "notes.txt"), "mine");
        Directory.CreateDirectory(Path.Combine(checkpoints, "backup.tmp"));

        var r = CliRunner.Run("run", Smoke, "--run-dir", dir["run"], "--set", "train.max_steps=2", "--set", "train.checkpoint_every=100");
        Assert.True(r.Code == 0, r.Err);
        Assert.False(Directory.Exists(Path.Combine(checkpoints, "step-00000099.tmp")));
        Assert.False(File.Exists(Path.Combine(checkpoints, "latest.tmp")));
        Assert.Equal("mine", File.ReadAllText(Path.Combine(checkpoints, "notes.txt")));
        Assert.True(Directory.Exists(Path.Combine(checkpoints, "backup.tmp")));
    }

    [Fact]
    public void A_second_tokenizer_train_into_the_same_out_is_refused_while_the_first_runs()
    {
        using var dir = new TempDir();
        string fifo = dir["corpus.txt"];
        Exec("mkfifo", fifo);
        File.WriteAllText(dir["a.txt"], string.Join(' ', Enumerable.Repeat("karo mision tenlo shave", 200)));
        using var holder = StartCli("tokenizer", "train", fifo, "--vocab-size", "300", "--out", dir["tok"]);
        try
        {
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (DateTime.UtcNow < deadline && !holder.HasExited && !IsHeld(dir[".tok.lock"]))
                Thread.Sleep(100);
            Assert.False(holder.HasExited, holder.HasExited ? holder.StandardError.ReadToEnd() : "");

            var second = CliRunner.Run("tokenizer", "train", dir["a.txt"], "--vocab-size", "300", "--out", dir["tok"]);
            Assert.Equal(1, second.Code);
            Assert.Contains($"pid {holder.Id} on host {Environment.MachineName}", second.Err, StringComparison.Ordinal);
        }
        finally
        {
            holder.Kill(entireProcessTree: true);
            holder.WaitForExit();
        }

        var after = CliRunner.Run("tokenizer", "train", dir["a.txt"], "--vocab-size", "300", "--out", dir["tok"]);
        Assert.True(after.Code == 0, after.Err);
        Assert.Empty(Directory.EnumerateFileSystemEntries(dir.Path, ".tok*"));   // the killed holder's lock file and temp folder are gone
    }

    /// <summary>Whether another process holds <paramref name="lockFile"/>: .NET's own open takes a shared flock, which fails then.</summary>
    private static bool IsHeld(string lockFile)
    {
        try
        {
            using var stream = new FileStream(lockFile, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            return false;
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return false;
        }
        catch (IOException)
        {
            Thread.Sleep(200);   // held; give the holder a moment to write its line
            return true;
        }
    }

    private static Process StartCli(params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "pretrain.dll"));
        foreach (string a in args)
            info.ArgumentList.Add(a);
        return Process.Start(info)!;
    }

    private static void Exec(string file, params string[] args)
    {
        using var p = Process.Start(file, args);
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
    }
}
