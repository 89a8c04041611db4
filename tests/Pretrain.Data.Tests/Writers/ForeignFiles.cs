using System.Globalization;
using DuckDB.NET.Data;
using ParquetSharp;

namespace Pretrain.Data.Tests.Writers;

/// <summary>
/// Parquet files written by other writers — ParquetSharp (Arrow C++) and DuckDB — with a string <c>text</c> column and
/// <c>ids32</c> list&lt;int32&gt; / <c>ids64</c> list&lt;int64&gt; columns, so the reader is proven on files it did not write.
/// Row i: text "i"; ids [10i, 10i+1, …] of length 1 + i mod 3, except every 50th row (i mod 50 = 7), whose lists are null.
/// </summary>
internal static class ForeignFiles
{
    public static string Text(int row) => row.ToString(CultureInfo.InvariantCulture);

    public static int[]? Ids(int row) =>
        row % 50 == 7 ? null : Enumerable.Range(0, 1 + (row % 3)).Select(k => (10 * row) + k).ToArray();

    /// <summary>ParquetSharp (Arrow C++ parquet writer); list columns use the 3-level LIST layout.</summary>
    public static string WriteParquetSharp(string path, Compression codec, ParquetDataPageVersion pages, int rows, int rowsPerGroup)
    {
        var columns = new Column[] { new Column<string>("text"), new Column<int[]?>("ids32"), new Column<long[]?>("ids64") };
        using var builder = new WriterPropertiesBuilder();
        using var properties = builder.Compression(codec).DataPageVersion(pages).Build();
        using (var writer = new ParquetFileWriter(path, columns, properties))
        {
            for (int start = 0; start < rows; start += rowsPerGroup)
            {
                var range = Enumerable.Range(start, Math.Min(rowsPerGroup, rows - start)).ToArray();
                using var group = writer.AppendRowGroup();
                using (var text = group.NextColumn().LogicalWriter<string>())
                {
                    text.WriteBatch(range.Select(Text).ToArray());
                }

                using (var ids32 = group.NextColumn().LogicalWriter<int[]?>())
                {
                    ids32.WriteBatch(range.Select(Ids).ToArray());
                }

                using (var ids64 = group.NextColumn().LogicalWriter<long[]?>())
                {
                    ids64.WriteBatch(range.Select(r => Ids(r)?.Select(x => (long)x).ToArray()).ToArray());
                }
            }

            writer.Close();
        }

        return path;
    }

    /// <summary>DuckDB <c>COPY … TO … (FORMAT parquet, COMPRESSION …, PARQUET_VERSION V1|V2)</c>.</summary>
    public static string WriteDuckDb(string path, string codec, string version, int rows, int rowsPerGroup)
    {
        using var connection = new DuckDBConnection("Data Source=:memory:");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = $"""
            COPY (
              SELECT CAST(i AS VARCHAR) AS text,
                     CASE WHEN i % 50 = 7 THEN NULL ELSE list_transform(range(1 + i % 3), k -> CAST(10 * i + k AS INTEGER)) END AS ids32,
                     CASE WHEN i % 50 = 7 THEN NULL ELSE list_transform(range(1 + i % 3), k -> CAST(10 * i + k AS BIGINT)) END AS ids64
              FROM range({rows}) t(i) ORDER BY i
            ) TO '{path.Replace("'", "''", StringComparison.Ordinal)}'
            (FORMAT parquet, COMPRESSION {codec}, ROW_GROUP_SIZE {rowsPerGroup}, PARQUET_VERSION {version})
            """;
        command.ExecuteNonQuery();
        return path;
    }

    /// <summary>Codec and writer recorded in the file (as ParquetSharp reads the footer).</summary>
    public static (string CreatedBy, string Codec, int RowGroups) Describe(string path)
    {
        using var reader = new ParquetFileReader(path);
        using var group = reader.RowGroup(0);
        using var chunk = group.MetaData.GetColumnChunkMetaData(1);
        return (reader.FileMetaData.CreatedBy, chunk.Compression.ToString(), reader.FileMetaData.NumRowGroups);
    }
}
