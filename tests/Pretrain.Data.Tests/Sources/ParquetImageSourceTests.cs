using DuckDB.NET.Data;
using Parquet;
using Parquet.Schema;
using Pretrain.Data.Sources;
using Pretrain.Data.Tests.Vision;
using Pretrain.Data.Writing;

namespace Pretrain.Data.Tests.Sources;

public sealed class ParquetImageSourceTests
{
    [Fact]
    public async Task ReadsTheStructLayoutWithPathsAndLabels()
    {
        using var dir = new TempDir();
        var rows = Enumerable.Range(0, 7).Select(i => new ImageRow(TestImages.GrayPng(3, 2, i), $"c/{i}.png", 100 + i)).ToList();
        ImageParquetWriter.Write(dir.File("a.parquet"), rows, rowsPerGroup: 3);
        using var source = ParquetImageSource.Open([dir.File("a.parquet")]);
        Assert.Equal([3L, 3, 1], source.Units.Select(u => u.Rows));
        var g1 = await source.ReadRowGroupAsync(0, 1);
        Assert.Equal(rows[3].Bytes, g1.Bytes[0]);
        Assert.Equal(new string?[] { "c/3.png", "c/4.png", "c/5.png" }, g1.Paths!);
        Assert.Equal([103L, 104, 105], g1.Labels!.Select(l => l!.Value));
    }

    [Fact]
    public async Task ReadsAPlainBinaryColumnWithInt32LabelsOrUnlabelled()
    {
        using var dir = new TempDir();
        string path = dir.File("b.parquet");
        var image = new DataField<byte[]>("img");
        var label = new DataField<int>("y");
        var bytes = Enumerable.Range(0, 4).Select(i => TestImages.GrayPng(2, 2, i)).ToArray();
        await using (var stream = File.Create(path))
        {
            await using var writer = await ParquetWriter.CreateAsync(new ParquetSchema(image, label), stream);
            using var group = writer.CreateRowGroup();
            await group.WriteAsync(image, bytes);
            await group.WriteAsync<int>(label, new[] { 5, 6, 7, 8 }.AsMemory());
        }

        using var source = ParquetImageSource.Open([path], "img", "y");
        var g = await source.ReadRowGroupAsync(0, 0);
        Assert.Equal(bytes, g.Bytes);
        Assert.Null(g.Paths);
        Assert.Equal([5L, 6, 7, 8], g.Labels!.Select(l => l!.Value));

        using var unlabelled = ParquetImageSource.Open([path], "img", null);
        Assert.Null((await unlabelled.ReadRowGroupAsync(0, 0)).Labels);
    }

    [Fact]
    public async Task ReadsTheHuggingFaceLayoutWrittenByDuckDb()
    {
        using var dir = new TempDir();
        string path = dir.File("hf.parquet");
        var pngs = Enumerable.Range(0, 5).Select(i => TestImages.GrayPng(4, 4, i)).ToArray();
        string Row(int i) => i == 2
            ? $"SELECT NULL::STRUCT(bytes BLOB, path VARCHAR) AS image, {i}::BIGINT AS label"
            : $"SELECT {{'bytes': from_hex('{Convert.ToHexString(pngs[i])}'), 'path': NULL::VARCHAR}} AS image, {i}::BIGINT AS label";
        using (var connection = new DuckDBConnection("Data Source=:memory:"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = $"COPY ({string.Join(" UNION ALL ", Enumerable.Range(0, 5).Select(Row))} ORDER BY label) TO '{path}' (FORMAT parquet)";
            command.ExecuteNonQuery();
        }

        using var source = ParquetImageSource.Open([path]);
        var g = await source.ReadRowGroupAsync(0, 0);
        Assert.Equal(5, g.Bytes.Length);
        Assert.Equal(pngs[0], g.Bytes[0]);
        Assert.Null(g.Bytes[2]);
        Assert.Equal(pngs[4], g.Bytes[4]);
        Assert.All(g.Paths!, p => Assert.True(string.IsNullOrEmpty(p))); // Parquet.Net 6.1 reads a null leaf inside a present struct as ""
        Assert.Equal([0L, 1, 2, 3, 4], g.Labels!.Select(l => l!.Value));
    }

    [Fact]
    public void WrongColumnsAreNamed()
    {
        using var dir = new TempDir();
        TextParquetWriter.Write(dir.File("t.parquet"), ["a", "b"], 2);
        var e = Assert.Throws<DataException>(() => ParquetImageSource.Open([dir.File("t.parquet")], "text", null, "data.eval"));
        Assert.Contains("t.parquet", e.Message);
        Assert.Contains("'text'", e.Message);
        Assert.Contains("struct", e.Message);
        var missing = Assert.Throws<DataException>(() => ParquetImageSource.Open([dir.File("t.parquet")], "image", null));
        Assert.Contains("no column 'image'", missing.Message);
        Assert.Contains("image_column", missing.Message);

        ImageParquetWriter.Write(dir.File("u.parquet"), [new ImageRow(TestImages.GrayPng(2, 2), null, null)], 1);
        var noLabel = Assert.Throws<DataException>(() => ParquetImageSource.Open([dir.File("u.parquet")]));
        Assert.Contains("label_column", noLabel.Message);
    }
}
