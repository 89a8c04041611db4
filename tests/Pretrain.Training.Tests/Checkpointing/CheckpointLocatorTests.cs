using Pretrain.Training.Checkpointing;

namespace Pretrain.Training.Tests.Checkpointing;

/// <summary>Resolving what the user typed to a verified step folder, with fallback and warnings.</summary>
public sealed class CheckpointLocatorTests : IDisposable
{
    private readonly CheckpointTestFolder _f = new();
    private readonly CheckpointManager _m;

    public CheckpointLocatorTests()
    {
        _m = new CheckpointManager(_f.CheckpointsDir, keepLast: 5, keepBest: 0);
    }

    public void Dispose() => _f.Dispose();

    private void Save(params long[] steps)
    {
        foreach (long step in steps)
            _m.Save(step, dir => CheckpointTestFolder.WriteFiles(dir, step));
    }

    private void Corrupt(long step, string file = "model.safetensors", string content = "weights of step XXX")
        => File.WriteAllText(Path.Combine(_f.Step(step), file), content);

    [Fact]
    public void Resolve_accepts_run_checkpoints_and_step_folders()
    {
        Save(100, 200);
        var fromRun = CheckpointLocator.Resolve(_f.RunDir);
        Assert.Equal((_f.Step(200), 200L), (fromRun.Directory, fromRun.Step));
        Assert.Empty(fromRun.Warnings);
        Assert.Equal(_f.Step(200), CheckpointLocator.Resolve(_f.CheckpointsDir + "/").Directory);
        var fromStep = CheckpointLocator.Resolve(_f.Step(100));
        Assert.Equal((_f.Step(100), 100L), (fromStep.Directory, fromStep.Step));
    }

    [Fact]
    public void Verify_names_the_bad_file()
    {
        Save(100);
        CheckpointLocator.Verify(_f.Step(100));

        Corrupt(100); // same length, other bytes
        var e = Assert.Throws<CheckpointException>(() => CheckpointLocator.Verify(_f.Step(100)));
        Assert.Contains("step-00000100' failed its manifest (model.safetensors sha256 mismatch)", e.Message);

        Corrupt(100, content: "short");
        e = Assert.Throws<CheckpointException>(() => CheckpointLocator.Verify(_f.Step(100)));
        Assert.Contains("model.safetensors has 5 bytes, the manifest says 19", e.Message);

        Corrupt(100, content: "weights of step 100"); // restored
        File.Delete(Path.Combine(_f.Step(100), "tokenizer", "vocab.txt"));
        e = Assert.Throws<CheckpointException>(() => CheckpointLocator.Verify(_f.Step(100)));
        Assert.Contains("tokenizer/vocab.txt is missing", e.Message);
    }

    [Fact]
    public void Verify_rejects_unlisted_files_and_a_missing_manifest()
    {
        Save(100);
        File.WriteAllText(Path.Combine(_f.Step(100), "adapter_model.safetensors"), "x");
        var e = Assert.Throws<CheckpointException>(() => CheckpointLocator.Verify(_f.Step(100)));
        Assert.Contains("adapter_model.safetensors is not listed in the manifest", e.Message);

        File.Delete(Path.Combine(_f.Step(100), "manifest.json"));
        e = Assert.Throws<CheckpointException>(() => CheckpointLocator.Verify(_f.Step(100)));
        Assert.Contains("manifest.json is missing", e.Message);
    }

    [Fact]
    public void Resolve_falls_back_to_the_previous_valid_checkpoint_with_a_warning()
    {
        Save(100, 200);
        Corrupt(200);
        var r = CheckpointLocator.Resolve(_f.RunDir);
        Assert.Equal(100, r.Step);
        Assert.Equal("checkpoints/step-00000200 failed its manifest (model.safetensors sha256 mismatch); using step-00000100 instead",
            Assert.Single(r.Warnings));

        Assert.True(CheckpointLocator.TryFindLatest(_f.RunDir, out var auto));
        Assert.Equal(100, auto!.Step);
        Assert.Single(auto.Warnings);
    }

    [Fact]
    public void Explicit_step_folder_that_fails_throws_instead_of_falling_back()
    {
        Save(100, 200);
        Corrupt(200);
        var e = Assert.Throws<CheckpointException>(() => CheckpointLocator.Resolve(_f.Step(200)));
        Assert.Contains("model.safetensors sha256 mismatch", e.Message);
    }

    [Fact]
    public void Latest_pointing_to_a_missing_folder_falls_back_to_the_newest_valid()
    {
        Save(100, 200);
        Directory.Delete(_f.Step(200), recursive: true);
        var r = CheckpointLocator.Resolve(_f.RunDir);
        Assert.Equal(100, r.Step);
        Assert.Equal("checkpoints/latest names step-00000200, which does not exist; using step-00000100 instead", Assert.Single(r.Warnings));

        File.WriteAllText(Path.Combine(_f.CheckpointsDir, "latest"), "garbage\n");
        Assert.Contains("holds 'garbage'", Assert.Single(CheckpointLocator.Resolve(_f.RunDir).Warnings));
    }

    [Fact]
    public void Half_written_tmp_folders_are_ignored()
    {
        Save(100);
        string tmp = _f.Step(200) + ".tmp";
        Directory.CreateDirectory(tmp);
        File.WriteAllText(Path.Combine(tmp, "model.safetensors"), "half");
        File.WriteAllText(Path.Combine(_f.CheckpointsDir, "latest"), "step-00000100\n");

        var r = CheckpointLocator.Resolve(_f.RunDir);
        Assert.Equal(100, r.Step);
        Assert.Empty(r.Warnings);
        Assert.True(CheckpointLocator.TryFindLatest(_f.RunDir, out var auto));
        Assert.Equal(100, auto!.Step);
        var e = Assert.Throws<CheckpointException>(() => CheckpointLocator.Resolve(tmp));
        Assert.Contains("unfinished checkpoint", e.Message);
    }

    [Fact]
    public void TryFindLatest_is_false_without_checkpoints_and_throws_when_none_is_valid()
    {
        Assert.False(CheckpointLocator.TryFindLatest(_f.RunDir, out var none));
        Assert.Null(none);
        Assert.False(CheckpointLocator.TryFindLatest(Path.Combine(_f.RunDir, "missing"), out _));
        Directory.CreateDirectory(_f.Step(100) + ".tmp");
        Assert.False(CheckpointLocator.TryFindLatest(_f.RunDir, out _));

        Save(100, 200);
        Corrupt(100);
        Corrupt(200, "config.json", "{x");
        var e = Assert.Throws<CheckpointException>(() => CheckpointLocator.TryFindLatest(_f.RunDir, out _));
        Assert.Contains("no valid checkpoint in '", e.Message);
        Assert.Contains("checkpoints/step-00000200 failed its manifest (config.json sha256 mismatch)", e.Message);
        Assert.Contains("checkpoints/step-00000100 failed its manifest (model.safetensors sha256 mismatch)", e.Message);
        Assert.Contains("start a new run", e.Message);
    }

    [Fact]
    public void Missing_or_empty_folders_give_clear_errors()
    {
        var e = Assert.Throws<CheckpointException>(() => CheckpointLocator.Resolve(Path.Combine(_f.RunDir, "nope")));
        Assert.Contains("nope' does not exist; pass a run folder (runs/NAME), its checkpoints/ folder, or a step folder", e.Message);

        e = Assert.Throws<CheckpointException>(() => CheckpointLocator.Resolve(_f.RunDir));
        Assert.Contains("holds no complete checkpoint", e.Message);

        e = Assert.Throws<CheckpointException>(() => CheckpointLocator.Verify(_f.Step(5)));
        Assert.Contains("step-00000005' does not exist", e.Message);
    }
}
