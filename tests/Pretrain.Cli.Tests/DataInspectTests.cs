using ParquetSharp;
using Pretrain.Data.Writing;

namespace Pretrain.Cli.Tests;

/// <summary>`pretrain data inspect`: writer, schema, rows, row groups, codecs and a sample per file; one clear line for a broken file.</summary>
[Collection("torch")]   // CLI tests share one process; run them one at a time like the torch tests
public sealed class DataInspectTests
{
    private static string WriteIdsV2(string path)
    {
        using var builder = new WriterPropertiesBuilder();
        using var properties = builder.Compression(Compression.Zstd).DataPageVersion(ParquetDataPageVersion.V2).Build();
        using (var writer = new ParquetFileWriter(path, [new Column<int[]>("input_ids")], properties))
        {
            foreach (int start in new[] { 0, 4 })
            {
                using var group = writer.AppendRowGroup();
                using var ids = group.NextColumn().LogicalWriter<int[]>();
                ids.WriteBatch(Enumerable.Range(start, 4).Select(r => Enumerable.Range(100 * r, 20).ToArray()).ToArray());
            }

            writer.Close();
        }

        return path;
    }

    [Fact]
    public void ShowsWriterSchemaRowGroupsCodecsAndSample()
    {
        using var dir = new TempDir();
        TextParquetWriter.Write(dir["a-text.parquet"], ["first document\nwith a newline", "second", new string('x', 500)], 2);
        WriteIdsV2(dir["b-ids.parquet"]);

        var r = CliRunner.Run("data", "inspect", dir["*.parquet"], "--rows", "2");
        Assert.True(r.Code == 0, r.Err);
        string o = r.Out;
        Assert.Contains(dir["a-text.parquet"], o);
        Assert.Contains("text: string", o);
        Assert.Contains("3 in 2 row group(s)", o);
        Assert.Contains("\"first document\\nwith a newline\"", o);
        Assert.Contains("\"second\"", o);
        Assert.DoesNotContain(new string('x', 100), o); // truncated

        Assert.Contains(dir["b-ids.parquet"], o);
        Assert.Contains("parquet-cpp-arrow", o);
        Assert.Contains("input_ids: list<int32>", o);
        Assert.Contains("8 in 2 row group(s)", o);
        Assert.Contains("ZSTD, v2 pages", o); // read through the ParquetSharp fallback
        Assert.Contains("[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, …] (20 ids)", o);
    }

    [Fact]
    public void ImageStructBytesAreShownAsBinary()
    {
        using var dir = new TempDir();
        ImageParquetWriter.Write(dir["img.parquet"], [new ImageRow([1, 2, 3], "a.png", 4), new ImageRow([5, 6], null, 7)], 2);

        var r = CliRunner.Run("data", "inspect", dir["img.parquet"]);
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("image: struct<bytes: binary?, path: string?>", r.Out); // ? marks an optional (nullable) field
        Assert.Contains("label: int64", r.Out);
        Assert.DoesNotContain("readonlymemory", r.Out, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void BrokenFileIsOneLineNamingIt()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir["broken.parquet"], "PAR1 this is not really a parquet file PAR1");
        var r = CliRunner.Run("data", "inspect", dir["broken.parquet"]);
        Assert.Equal(1, r.Code);
        var lines = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("error: ", lines[0]);
        Assert.Contains(dir["broken.parquet"], lines[0]);

        var none = CliRunner.Run("data", "inspect", dir["nothing-*.parquet"]);
        Assert.Equal(1, none.Code);
        Assert.Contains("nothing-*.parquet", none.Err);
        Assert.Equal(2, CliRunner.Run("data", "inspect").Code);
    }
}
