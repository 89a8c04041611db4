using Pretrain.Data.Synthetic;
using Pretrain.Data.Writing;
using Xunit;

namespace Pretrain.Data.Tests.Writers;

/// <summary>The data writers remove only shards an earlier run of theirs wrote (their manifest lists them), never a user's file of the same shape.</summary>
public sealed class StaleFileTests
{
    private static readonly TableColumn[] Text = [new("text", ColumnType.String)];

    [Fact]
    public void Sharded_writer_removes_its_own_stale_shards_and_keeps_a_users()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("part-00009.parquet"), "mine");
        var rows = Enumerable.Range(0, 6).Select(i => new object?[] { $"row {i}" }).ToList();

        ShardedParquetWriter.Write(dir.Path, Text, rows, rowsPerGroup: 2, shards: 3);
        Assert.Equal("mine", File.ReadAllText(dir.File("part-00009.parquet")));
        ShardedParquetWriter.Write(dir.Path, Text, rows, rowsPerGroup: 2, shards: 1);
        Assert.Equal(["manifest.json", "part-00000.parquet", "part-00009.parquet"], Names(dir.Path));
        Assert.Equal("mine", File.ReadAllText(dir.File("part-00009.parquet")));
    }

    [Fact]
    public void Image_shards_keep_a_users_classes_json_and_shards()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("part-00003.parquet"), "mine");
        File.WriteAllText(dir.File("classes.json"), "[\"mine\"]");
        ImageRow[] shard = [new(Convert.FromBase64String(OnePixelPng), "a.png", 0)];

        ImageShards.Write(dir.Path, [shard], rowsPerGroup: 1, classes: null);
        Assert.Equal("mine", File.ReadAllText(dir.File("part-00003.parquet")));
        Assert.Equal("[\"mine\"]", File.ReadAllText(dir.File("classes.json")));
    }

    [Fact]
    public void Synthetic_text_and_sft_remove_only_their_own_stale_shards()
    {
        using var dir = new TempDir();
        foreach (string kind in new[] { "text", "sft" })
        {
            string folder = Path.Combine(dir.Path, kind);
            Directory.CreateDirectory(folder);
            File.WriteAllText(Path.Combine(folder, "part-00005.parquet"), "mine");
            Func<int, IReadOnlyList<string>> write = shards => kind == "text"
                ? SyntheticText.Write(folder, rows: 12, shards, rowsPerGroup: 4, seed: 1)
                : SyntheticSft.Write(folder, rows: 12, shards, rowsPerGroup: 4, seed: 1);

            Assert.Equal(3, write(3).Count);
            Assert.Single(write(1));
            Assert.DoesNotContain("part-00001.parquet", Names(folder));
            Assert.DoesNotContain("part-00002.parquet", Names(folder));
            Assert.Equal("mine", File.ReadAllText(Path.Combine(folder, "part-00005.parquet")));
        }
    }

    private static string[] Names(string folder) =>
        Directory.GetFiles(folder).Select(f => Path.GetFileName(f)!).Order(StringComparer.Ordinal).ToArray();

    // A 1×1 grey PNG.
    private const string OnePixelPng = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgABSK+kcQAAAABJRU5ErkJggg==";
}
