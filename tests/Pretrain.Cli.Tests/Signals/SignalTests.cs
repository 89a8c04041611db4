namespace Pretrain.Cli.Tests.Signals;

/// <summary>
/// Real signals sent to a real `pretrain` child process in each phase (SignalScope): outside training the first
/// signal ends the process with 128 + its number and leaves no partial output; in training it finishes the step,
/// checkpoints and exits 0. PRETRAIN_TEST_HOLD parks the process at a named point so the signal lands there.
/// </summary>
public sealed class SignalTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    private static Dictionary<string, string> Hold(string point) => new() { ["PRETRAIN_TEST_HOLD"] = point, ["PRETRAIN_STOP_GRACE_S"] = "1" };

    [Theory]
    [InlineData(ChildCli.SigTerm, "data:commit", 143)]          // the phase watches the token: ends at once
    [InlineData(ChildCli.SigUsr1, "data:commit:stuck", 138)]    // the phase ignores it (a long native call): ends after the grace
    [InlineData(ChildCli.SigInt, "data:commit", 130)]
    public void Data_synth_stopped_before_its_output_is_in_place_leaves_nothing(int signal, string hold, int expected)
    {
        using var dir = new TempDir();
        using var child = new ChildCli(dir.Path, Hold(hold), "data", "synth", "text", "--out", dir["out"], "--rows", "40", "--shards", "2", "--rows-per-group", "10");
        child.WaitForLine("hold data:commit", Patience);
        child.Signal(signal);
        Assert.Equal(expected, child.WaitForExit(Patience));
        Assert.False(Directory.Exists(dir["out"]), child.Output);
        Assert.Empty(Directory.EnumerateFileSystemEntries(dir.Path));   // no staging folder left either
    }

    [Fact]
    public void Data_prepare_text_stopped_keeps_an_existing_out_folder_as_it_was()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir["a.txt"], "one paragraph.\n\nanother paragraph.\n");
        Directory.CreateDirectory(dir["out"]);
        File.WriteAllText(dir["out/notes.md"], "mine");
        using var child = new ChildCli(dir.Path, Hold("data:commit"), "data", "prepare", "text", dir["a.txt"], "--out", dir["out"]);
        child.WaitForLine("hold data:commit", Patience);
        child.Signal(ChildCli.SigTerm);
        Assert.Equal(143, child.WaitForExit(Patience));
        Assert.Equal(["notes.md"], Directory.GetFileSystemEntries(dir["out"]).Select(Path.GetFileName));
        Assert.Equal(["a.txt", "out"], Directory.GetFileSystemEntries(dir.Path).Select(Path.GetFileName).Order());
    }

    [Fact]
    public void Run_stopped_while_preparing_exits_143_without_a_checkpoint()
    {
        using var dir = new TempDir();
        string recipe = Path.Combine(CliRunner.RepoRoot, "recipes", "smoke", "gpt-tiny-clm.yaml");
        using var child = new ChildCli(dir.Path, Hold("run:prepare:stuck"), "run", recipe, "--run-dir", dir["run"]);
        child.WaitForLine("hold run:prepare", Patience);
        child.Signal(ChildCli.SigTerm);
        Assert.Equal(143, child.WaitForExit(Patience));
        Assert.DoesNotContain("finishing the current step", child.Output, StringComparison.Ordinal);
        Assert.False(Directory.Exists(dir["run/checkpoints"]));
    }

    [Fact]
    public void Run_stopped_in_training_checkpoints_and_exits_0_then_export_stopped_leaves_no_output()
    {
        using var dir = new TempDir();
        string recipe = Path.Combine(CliRunner.RepoRoot, "recipes", "smoke", "gpt-tiny-clm.yaml");
        using (var child = new ChildCli(dir.Path, null, "run", recipe, "--run-dir", dir["run"],
                   "--set", "train.max_steps=100000", "--set", "train.log_every=1", "--set", "train.checkpoint_every=100000", "--set", "train.eval_every=100000"))
        {
            child.WaitForLine("step      2/", Patience);
            child.Signal(ChildCli.SigUsr1);
            Assert.Equal(0, child.WaitForExit(Patience));
            Assert.Contains("SIGUSR1: finishing the current step", child.Output, StringComparison.Ordinal);
            Assert.Contains("done: ", child.Output, StringComparison.Ordinal);
        }
        var steps = Directory.GetDirectories(dir["run/checkpoints"], "step-*");
        Assert.Single(steps);
        Assert.True(File.Exists(Path.Combine(steps[0], "model.safetensors")));

        using (var export = new ChildCli(dir.Path, Hold("export"), "export", dir["run"], "--out", dir["onnx"], "--no-validate"))
        {
            export.WaitForLine("hold export", Patience);
            export.Signal(ChildCli.SigTerm);
            Assert.Equal(143, export.WaitForExit(Patience));
        }
        Assert.False(Directory.Exists(dir["onnx"]));
        Assert.Equal(["run"], Directory.GetFileSystemEntries(dir.Path).Select(Path.GetFileName));
    }
}
