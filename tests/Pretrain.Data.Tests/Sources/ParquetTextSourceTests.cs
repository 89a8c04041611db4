using Parquet;
using Parquet.Schema;
using Pretrain.Data.Datasets;
using Pretrain.Data.Sources;
using Pretrain.Data.Tests.Datasets;
using Pretrain.Data.Writing;

namespace Pretrain.Data.Tests.Sources;

public sealed class ParquetTextSourceTests
{
    private static DataException OpenFails(string path, string good)
    {
        // The bad file sits after a good one: every file is validated up front, not when first read.
        var e = Assert.Throws<DataException>(() => new PackedTextStream(
            new PackedTextOptions { Files = [good, path], BlockSize = 4 }, new IdTokenizer()));
        Assert.Contains(path, e.Message);
        return e;
    }

    private static string Good(TempDir dir)
    {
        string path = dir.File("good.parquet");
        TextParquetWriter.Write(path, ["1", "2"], 1);
        return path;
    }

    [Fact]
    public void ReadsRowGroupCountsFromFooters()
    {
        using var dir = new TempDir();
        var files = StreamFixture.WriteIdFiles(dir);
        using var source = ParquetTextSource.Open(files, "text");
        Assert.Equal(11, source.Units.Count);
        Assert.Equal(StreamFixture.TotalRows, source.TotalRows);
        Assert.Equal([5L, 5, 5, 5, 3], source.Units.Where(u => u.File == 0).Select(u => u.Rows));
    }

    [Fact]
    public void NotParquet()
    {
        using var dir = new TempDir();
        string path = dir.File("notes.parquet");
        File.WriteAllText(path, "this is a text file, not a table");
        Assert.Contains("is not a Parquet file (bad magic", OpenFails(path, Good(dir)).Message);
    }

    [Fact]
    public void EmptyFile()
    {
        using var dir = new TempDir();
        string path = dir.File("empty.parquet");
        File.WriteAllBytes(path, []);
        Assert.Contains("is empty (0 bytes)", OpenFails(path, Good(dir)).Message);
    }

    [Fact]
    public void MissingColumnListsColumnsAndSetting()
    {
        using var dir = new TempDir();
        string path = dir.File("body.parquet");
        TextParquetWriter.Write(path, ["a"], 1, column: "body");
        Assert.Contains("has no column 'text'; columns: body. Set data.train.text_column.", OpenFails(path, Good(dir)).Message);
    }

    [Fact]
    public async Task NonStringColumn()
    {
        using var dir = new TempDir();
        string path = dir.File("ints.parquet");
        var field = new DataField<int>("text");
        await using (var stream = File.Create(path))
        await using (var writer = await ParquetWriter.CreateAsync(new ParquetSchema(field), stream))
        {
            using var group = writer.CreateRowGroup();
            await group.WriteAsync(field, new ReadOnlyMemory<int>([1, 2, 3]));
        }

        Assert.Contains("column 'text' is Int32, not a string", OpenFails(path, Good(dir)).Message);
    }

    [Fact]
    public async Task CorruptRowGroupNamesFileAndGroupWhenRead()
    {
        using var dir = new TempDir();
        string path = dir.File("corrupt.parquet");
        TextParquetWriter.Write(path, Enumerable.Range(0, 12).Select(i => (string?)i.ToString(System.Globalization.CultureInfo.InvariantCulture)), 4);
        long offset;
        await using (var reader = await ParquetReader.CreateAsync(path))
        {
            offset = reader.Metadata!.RowGroups[1].Columns[0].MetaData!.DataPageOffset;
        }

        await using (var file = new FileStream(path, FileMode.Open, FileAccess.Write))
        {
            file.Seek(offset, SeekOrigin.Begin);
            file.Write(Enumerable.Repeat((byte)0xEE, 24).ToArray());
        }

        using var stream = new PackedTextStream(
            new PackedTextOptions { Files = [path], BlockSize = 1, Shuffle = false, MaxEpochs = 1 }, new IdTokenizer());
        var e = Assert.Throws<DataException>(() => StreamFixture.ReadAll(stream));
        Assert.Contains(path, e.Message);
        Assert.Contains("row group 1", e.Message);
    }
}
