using Pretrain.Core;
using Pretrain.Training.Checkpointing;

namespace Pretrain.Training.Tests.Checkpointing;

/// <summary>What a killed save leaves is removed at the next start; a set-aside copy that may be a step's only copy is kept.</summary>
public sealed class StaleTempTests : IDisposable
{
    private readonly CheckpointTestFolder _f = new();

    public void Dispose() => _f.Dispose();

    [Fact]
    public void Removes_our_temp_names_only_and_keeps_a_set_aside_step_without_its_final_folder()
    {
        var m = new CheckpointManager(_f.CheckpointsDir, keepLast: 3, keepBest: 0);
        m.Save(100, dir => CheckpointTestFolder.WriteFiles(dir, 100));
        string dir = _f.CheckpointsDir;
        foreach (string name in new[] { "step-00000200.tmp", "step-00000100.replaced.tmp", "step-00000300.replaced.tmp", "mine.tmp" })
            Directory.CreateDirectory(Path.Combine(dir, name));
        File.WriteAllText(Path.Combine(dir, "latest.tmp"), "step-00000200\n");

        CheckpointManager.RemoveStaleTemps(dir);

        var left = Directory.EnumerateFileSystemEntries(dir).Select(Path.GetFileName).Order(StringComparer.Ordinal);
        Assert.Equal(["latest", "mine.tmp", "step-00000100", "step-00000300.replaced.tmp"], left);
    }

    [Fact]
    public void Checkpoint_manifests_say_they_are_ours_and_of_which_kind()
    {
        var m = new CheckpointManager(_f.CheckpointsDir, keepLast: 3, keepBest: 0);
        string step = m.Save(100, dir => CheckpointTestFolder.WriteFiles(dir, 100));
        var manifest = OutputManifest.TryRead(step);
        Assert.NotNull(manifest);
        Assert.Equal(OutputManifest.RunCheckpoint, manifest.Kind);
        Assert.Contains("model.safetensors", manifest.Files);
    }
}
