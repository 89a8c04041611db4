using System.Text.Json;
using Pretrain.Training.Checkpointing;

namespace Pretrain.Training.Tests.Checkpointing;

/// <summary>Saving: tmp → manifest → rename → latest → prune; failures leave no trace.</summary>
public sealed class CheckpointManagerTests : IDisposable
{
    private readonly CheckpointTestFolder _f = new();

    public void Dispose() => _f.Dispose();

    private string Save(CheckpointManager m, long step, double? metric = null) =>
        m.Save(step, dir => CheckpointTestFolder.WriteFiles(dir, step), metric);

    [Fact]
    public void Save_writes_folder_manifest_and_latest()
    {
        var m = new CheckpointManager(_f.CheckpointsDir, keepLast: 3, keepBest: 0);
        string path = Save(m, 100, metric: 2.5);

        Assert.Equal(_f.Step(100), path);
        Assert.Equal("step-00000100\n", _f.Latest);
        Assert.Equal([_f.Step(100)], m.List());
        Assert.False(File.Exists(Path.Combine(_f.CheckpointsDir, "latest.tmp")));

        using var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(path, "manifest.json")));
        var root = manifest.RootElement;
        Assert.Equal(100, root.GetProperty("step").GetInt64());
        Assert.Equal(2.5, root.GetProperty("metric").GetDouble());
        Assert.True(DateTime.TryParse(root.GetProperty("created_utc").GetString(), out _));
        var files = root.GetProperty("files");
        Assert.Equal(["config.json", "model.safetensors", "tokenizer/vocab.txt"], files.EnumerateObject().Select(p => p.Name));
        var model = files.GetProperty("model.safetensors");
        Assert.Equal("weights of step 100".Length, model.GetProperty("bytes").GetInt64());
        Assert.Equal(64, model.GetProperty("sha256").GetString()!.Length);

        Save(m, 200);
        Assert.Equal("step-00000200\n", _f.Latest);
        Assert.Equal([_f.Step(100), _f.Step(200)], m.List());
        using var second = JsonDocument.Parse(File.ReadAllText(Path.Combine(_f.Step(200), "manifest.json")));
        Assert.Equal(JsonValueKind.Null, second.RootElement.GetProperty("metric").ValueKind);
    }

    [Fact]
    public void Keeps_the_last_n_plus_the_best_by_metric_lower_is_better()
    {
        var m = new CheckpointManager(_f.CheckpointsDir, keepLast: 2, keepBest: 1);
        double?[] metrics = [3.0, 1.0, null, 2.0, 2.5, 4.0];
        for (int i = 0; i < metrics.Length; i++)
            Save(m, (i + 1) * 10, metrics[i]);
        Assert.Equal([_f.Step(20), _f.Step(50), _f.Step(60)], m.List());
    }

    [Fact]
    public void Higher_is_better_and_null_metrics_are_not_ranked()
    {
        var m = new CheckpointManager(_f.CheckpointsDir, keepLast: 1, keepBest: 2, higherIsBetter: true);
        double?[] metrics = [0.5, null, 0.9, 0.1, null];
        for (int i = 0; i < metrics.Length; i++)
            Save(m, i + 1, metrics[i]);
        Assert.Equal([_f.Step(1), _f.Step(3), _f.Step(5)], m.List());
    }

    [Fact]
    public void Never_deletes_the_checkpoint_latest_names()
    {
        var m = new CheckpointManager(_f.CheckpointsDir, keepLast: 1, keepBest: 0);
        Save(m, 300);
        Save(m, 100); // e.g. a run resumed from an earlier step: latest now names step 100
        Assert.Equal("step-00000100\n", _f.Latest);
        Assert.Equal([_f.Step(100), _f.Step(300)], m.List());
    }

    [Fact]
    public void Throwing_writer_leaves_no_trace_and_latest_unchanged()
    {
        var m = new CheckpointManager(_f.CheckpointsDir, keepLast: 2, keepBest: 0);
        Save(m, 100);
        var boom = new InvalidOperationException("disk full");
        var e = Assert.Throws<InvalidOperationException>(() => m.Save(200, dir =>
        {
            File.WriteAllText(Path.Combine(dir, "model.safetensors"), "half");
            throw boom;
        }));
        Assert.Same(boom, e);
        Assert.Equal("step-00000100\n", _f.Latest);
        Assert.Equal([_f.Step(100)], m.List());
        Assert.Equal(["latest", "step-00000100"], Directory.EnumerateFileSystemEntries(_f.CheckpointsDir).Select(Path.GetFileName).Order());
    }

    [Fact]
    public void Next_save_cleans_up_a_half_written_tmp_folder()
    {
        var m = new CheckpointManager(_f.CheckpointsDir, keepLast: 5, keepBest: 0);
        Save(m, 100);
        string stale = _f.Step(150) + ".tmp";
        Directory.CreateDirectory(stale);
        File.WriteAllText(Path.Combine(stale, "model.safetensors"), "half");
        string later = _f.Step(900) + ".tmp";
        Directory.CreateDirectory(later);

        Assert.Equal([_f.Step(100)], m.List());
        Save(m, 200);
        Assert.False(Directory.Exists(stale));
        Assert.True(Directory.Exists(later)); // a later step's leftover is removed when that step is saved
        Save(m, 900);
        Assert.False(Directory.Exists(later));
        Assert.Equal([_f.Step(100), _f.Step(200), _f.Step(900)], m.List());
    }

    [Fact]
    public void Saving_the_same_step_again_replaces_it()
    {
        var m = new CheckpointManager(_f.CheckpointsDir, keepLast: 2, keepBest: 0);
        Save(m, 100);
        m.Save(100, dir => File.WriteAllText(Path.Combine(dir, "model.safetensors"), "new weights"));
        Assert.Equal("new weights", File.ReadAllText(Path.Combine(_f.Step(100), "model.safetensors")));
        Assert.False(File.Exists(Path.Combine(_f.Step(100), "config.json")));
        Assert.Equal(["latest", "step-00000100"], Directory.EnumerateFileSystemEntries(_f.CheckpointsDir).Select(Path.GetFileName).Order());
        CheckpointLocator.Verify(_f.Step(100));
    }

    [Fact]
    public void Writer_may_not_create_the_manifest()
    {
        var m = new CheckpointManager(_f.CheckpointsDir, keepLast: 2, keepBest: 0);
        var e = Assert.Throws<CheckpointException>(() => m.Save(1, dir => File.WriteAllText(Path.Combine(dir, "manifest.json"), "{}")));
        Assert.Contains("manifest.json", e.Message);
        Assert.Empty(m.List());
    }

    [Fact]
    public void Steps_beyond_eight_digits_and_bad_arguments()
    {
        var m = new CheckpointManager(_f.CheckpointsDir, keepLast: 3, keepBest: 0);
        Save(m, 99_999_999);
        Save(m, 123_456_789);
        Assert.Equal([_f.Step(99_999_999), Path.Combine(_f.CheckpointsDir, "step-123456789")], m.List());
        Assert.Throws<ArgumentOutOfRangeException>(() => new CheckpointManager(_f.CheckpointsDir, keepLast: 0, keepBest: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => m.Save(-1, _ => { }));
    }

    [Fact]
    public void List_of_a_missing_folder_is_empty() =>
        Assert.Empty(new CheckpointManager(Path.Combine(_f.RunDir, "none"), 1, 0).List());
}
