using Parquet;
using Pretrain.Data.Synthetic;

namespace Pretrain.Data.Tests.Synthetic;

public sealed class SyntheticTextTests
{
    [Fact]
    public void DocumentsAreDeterministicAndVaried()
    {
        Assert.Equal(SyntheticText.Document(1, 42), SyntheticText.Document(1, 42));
        Assert.NotEqual(SyntheticText.Document(1, 42), SyntheticText.Document(1, 43));
        Assert.NotEqual(SyntheticText.Document(1, 42), SyntheticText.Document(2, 42));
        var docs = Enumerable.Range(0, 50).Select(i => SyntheticText.Document(0, i)).ToList();
        Assert.Equal(50, docs.Distinct().Count());
        Assert.Contains(docs, d => d.Contains(" = ", StringComparison.Ordinal));
        Assert.Contains(docs, d => d.Contains("Count:", StringComparison.Ordinal));
    }

    [Fact]
    public async Task WriteProducesShardsWithRowGroupsAndReuses()
    {
        using var dir = new TempDir();
        var paths = SyntheticText.Write(dir.Path, rows: 50, shards: 3, rowsPerGroup: 7, seed: 5);
        Assert.Equal(["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"], paths.Select(Path.GetFileName));
        var texts = new List<string?>();
        foreach (string path in paths)
        {
            await using var reader = await ParquetReader.CreateAsync(path);
            Assert.True(reader.RowGroupCount >= 2);
            var field = reader.Schema.DataFields.Single(f => f.Name == "text");
            foreach (var group in reader.RowGroups)
            {
                Assert.True(group.RowCount <= 7);
                var buffer = new string?[group.RowCount];
                await group.ReadAsync(field, buffer.AsMemory());
                texts.AddRange(buffer);
            }
        }

        Assert.Equal(Enumerable.Range(0, 50).Select(i => SyntheticText.Document(5, i)), texts);

        var stamp = paths.Select(File.GetLastWriteTimeUtc).ToArray();
        Assert.Equal(paths, SyntheticText.Write(dir.Path, 50, 3, 7, 5));
        Assert.Equal(stamp, paths.Select(File.GetLastWriteTimeUtc));

        var fewer = SyntheticText.Write(dir.Path, 20, 2, 7, 5);
        Assert.Equal(2, fewer.Count);
        Assert.False(File.Exists(paths[2]));
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp"));
    }
}
