using ParquetSharp;
using Pretrain.Data.Inspection;
using Pretrain.Data.Sources;
using Xunit.Abstractions;

namespace Pretrain.Data.Tests.Writers;

/// <summary>
/// Files from ParquetSharp (Arrow C++) and DuckDB, every common codec, v1 and v2 data pages: text and list&lt;int32|int64&gt;
/// columns read back value for value. List columns in v2 pages are what Parquet.Net 6.1.0 cannot decode; those row
/// groups must come back through the ParquetSharp fallback, never as NotImplementedException.
/// </summary>
public sealed class ForeignWriterTests(ITestOutputHelper output)
{
    private const int Rows = 300;

    public static TheoryData<Compression, ParquetDataPageVersion> ParquetSharpCases()
    {
        var data = new TheoryData<Compression, ParquetDataPageVersion>();
        foreach (var codec in new[] { Compression.Uncompressed, Compression.Snappy, Compression.Gzip, Compression.Brotli, Compression.Zstd, Compression.Lz4, Compression.Lz4Hadoop })
        {
            data.Add(codec, ParquetDataPageVersion.V1);
            data.Add(codec, ParquetDataPageVersion.V2);
        }

        return data;
    }

    public static TheoryData<string, string> DuckDbCases()
    {
        var data = new TheoryData<string, string>();
        foreach (string codec in new[] { "uncompressed", "snappy", "gzip", "zstd", "brotli", "lz4", "lz4_raw" })
        {
            data.Add(codec, "V1");
            data.Add(codec, "V2");
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(ParquetSharpCases))]
    public void ParquetSharpFilesReadBack(Compression codec, ParquetDataPageVersion pages)
    {
        using var dir = new TempDir();
        string path = ForeignFiles.WriteParquetSharp(dir.File($"ps-{codec}-{pages}.parquet"), codec, pages, Rows, 100);
        CheckFile(path, Rows, expectGroups: 3, expectPages: pages == ParquetDataPageVersion.V1 ? "v1" : "v2");
    }

    [Theory]
    [MemberData(nameof(DuckDbCases))]
    public void DuckDbFilesReadBack(string codec, string version)
    {
        using var dir = new TempDir();
        string path = ForeignFiles.WriteDuckDb(dir.File($"duck-{codec}-{version}.parquet"), codec, version, 5000, 2048);
        // DuckDB's PARQUET_VERSION V2 switches to the v2 encodings (DELTA_*) but keeps v1 page headers.
        var summary = CheckFile(path, 5000, expectGroups: null, expectPages: "v1");
        var encodings = summary.RowGroups.SelectMany(g => g.Chunks).SelectMany(c => c.Encodings).ToHashSet();
        Assert.Equal(version == "V2", encodings.Any(e => e.StartsWith("DELTA", StringComparison.Ordinal)));
    }

    [Theory]
    [InlineData("[1, NULL, 3]", "INTEGER[]", "null id")]
    [InlineData("[3000000000]", "BIGINT[]", "outside int32")]
    public void BadIdsNameFileRowGroupAndColumn(string list, string type, string problem)
    {
        using var dir = new TempDir();
        string path = dir.File("bad-ids.parquet");
        using (var connection = new DuckDB.NET.Data.DuckDBConnection("Data Source=:memory:"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = $"COPY (SELECT CAST([7] AS {type}) AS input_ids UNION ALL SELECT CAST({list} AS {type})) TO '{path}' (FORMAT parquet)";
            command.ExecuteNonQuery();
        }

        using var source = ParquetTextSource.Open([path], "input_ids", kind: ParquetColumnKind.TokenIds);
        var e = Assert.Throws<DataException>(() => source.ReadTokenRowGroupAsync(0, 0).GetAwaiter().GetResult());
        Assert.Contains(path, e.Message);
        Assert.Contains("row group 0, column 'input_ids'", e.Message);
        Assert.Contains(problem, e.Message);
    }

    private ParquetFileSummary CheckFile(string path, int rows, int? expectGroups, string expectPages)
    {
        var (createdBy, codec, groups) = ForeignFiles.Describe(path);
        var summary = ParquetInspector.Inspect(path);
        var pages = summary.RowGroups.SelectMany(g => g.Chunks).Select(c => c.Pages).Distinct().ToList();
        output.WriteLine($"{Path.GetFileName(path)}: {createdBy}, codec {codec} ({summary.RowGroups[0].Chunks[1].Codec}), " +
            $"{groups} row group(s), pages {string.Join('/', pages)}, encodings {string.Join(' ', summary.RowGroups[0].Chunks.SelectMany(c => c.Encodings).Distinct())}");
        Assert.Equal([expectPages], pages);
        Assert.True(groups > 1, "several row groups");
        if (expectGroups is int g)
        {
            Assert.Equal(g, groups);
        }

        using (var text = ParquetTextSource.Open([path], "text"))
        {
            Assert.Equal(rows, text.TotalRows);
            var all = text.Units.SelectMany(u => text.ReadRowGroupAsync(u.File, u.RowGroup).GetAwaiter().GetResult()).ToList();
            Assert.Equal(Enumerable.Range(0, rows).Select(ForeignFiles.Text), all);
            output.WriteLine($"  text: {text.FallbackReads} row group(s) read by the ParquetSharp fallback");
        }

        foreach (string column in new[] { "ids32", "ids64" })
        {
            using var ids = ParquetTextSource.Open([path], column, kind: ParquetColumnKind.TokenIds);
            var all = ids.Units.SelectMany(u => ids.ReadTokenRowGroupAsync(u.File, u.RowGroup).GetAwaiter().GetResult()).ToList();
            Assert.Equal(rows, all.Count);
            for (int i = 0; i < rows; i++)
            {
                Assert.Equal(ForeignFiles.Ids(i), all[i]);
            }

            output.WriteLine($"  {column}: {ids.FallbackReads} row group(s) read by the ParquetSharp fallback");
        }

        return summary;
    }
}
