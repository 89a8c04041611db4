using Parquet;
using Parquet.Schema;

namespace Pretrain.Data.Writing;

/// <summary>
/// Writes rows into <c>part-00000.parquet</c>, <c>part-00001.parquet</c>, … in a folder: consecutive rows per shard
/// (input order kept), a fixed number of rows per row group, nullable columns. Each file is written under a
/// temporary name and renamed; manifest.json lists them, and shards an earlier write listed there that the new one
/// does not overwrite are removed (a user's files are never), so running again gives the same folder.
/// </summary>
public static class ShardedParquetWriter
{
    /// <summary>Shard file name for index <paramref name="shard"/>.</summary>
    public static string ShardName(int shard) => $"part-{shard:D5}.parquet";

    /// <summary>Writes <paramref name="rows"/> (one value per column, null allowed) and returns the files written.</summary>
    /// <param name="shards">Number of files; fewer when there are fewer rows than shards (at least one file).</param>
    public static IReadOnlyList<string> Write(string directory, IReadOnlyList<TableColumn> columns, IReadOnlyList<object?[]> rows,
        int rowsPerGroup, int shards) => WriteAsync(directory, columns, rows, rowsPerGroup, shards).GetAwaiter().GetResult();

    /// <inheritdoc cref="Write"/>
    public static async Task<IReadOnlyList<string>> WriteAsync(string directory, IReadOnlyList<TableColumn> columns, IReadOnlyList<object?[]> rows,
        int rowsPerGroup, int shards, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rowsPerGroup, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(shards, 1);
        string dir = Path.GetFullPath(directory);
        Directory.CreateDirectory(dir);
        int count = Math.Max(1, Math.Min(shards, rows.Count));
        var earlier = StaleShards.ListedIn(dir);
        var written = new List<string>();
        for (int s = 0; s < count; s++)
        {
            // Shard s takes rows [s*n/count, (s+1)*n/count): sizes differ by at most one.
            int from = (int)((long)s * rows.Count / count), to = (int)((long)(s + 1) * rows.Count / count);
            string path = Path.Combine(dir, ShardName(s));
            await WriteFileAsync(path, columns, rows, from, to, rowsPerGroup, cancellationToken).ConfigureAwait(false);
            written.Add(path);
        }

        StaleShards.Delete(dir, earlier, written);
        StaleShards.Record(dir, written);
        return written;
    }

    private static DataField Field(TableColumn c) => c.Type switch
    {
        ColumnType.String => new DataField<string>(c.Name, true),
        ColumnType.Int64 => new DataField<long?>(c.Name),
        ColumnType.Double => new DataField<double?>(c.Name),
        _ => throw new ArgumentOutOfRangeException(nameof(c), c.Type, "unknown column type"),
    };

    private static async Task WriteFileAsync(string path, IReadOnlyList<TableColumn> columns, IReadOnlyList<object?[]> rows, int from, int to,
        int rowsPerGroup, CancellationToken ct)
    {
        var fields = columns.Select(Field).ToArray();
        string tmp = $"{path}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        try
        {
            await using (var stream = File.Create(tmp))
            {
                await using (var writer = await ParquetWriter.CreateAsync(new ParquetSchema(fields), stream, cancellationToken: ct).ConfigureAwait(false))
                {
                    for (int start = from; start < to || (start == from && from == to); start += rowsPerGroup)
                    {
                        int end = Math.Min(to, start + rowsPerGroup);
                        using var group = writer.CreateRowGroup();
                        for (int c = 0; c < columns.Count; c++)
                        {
                            await WriteColumnAsync(group, fields[c], columns[c].Type, rows, c, start, end, ct).ConfigureAwait(false);
                        }

                        if (from == to)
                        {
                            break;
                        }
                    }
                }

                await stream.FlushAsync(ct).ConfigureAwait(false);
            }

            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp))
            {
                File.Delete(tmp);
            }
        }
    }

    private static async Task WriteColumnAsync(ParquetRowGroupWriter group, DataField field, ColumnType type, IReadOnlyList<object?[]> rows,
        int column, int start, int end, CancellationToken ct)
    {
        int n = end - start;
        var culture = System.Globalization.CultureInfo.InvariantCulture;
        switch (type)
        {
            case ColumnType.String:
                var s = new string?[n];
                for (int i = 0; i < n; i++)
                {
                    s[i] = (string?)rows[start + i][column];
                }

                await group.WriteAsync(field, s).ConfigureAwait(false);
                break;
            case ColumnType.Int64:
                var l = new long?[n];
                for (int i = 0; i < n; i++)
                {
                    l[i] = rows[start + i][column] is { } v ? Convert.ToInt64(v, culture) : null;
                }

                await group.WriteAsync<long>(field, l.AsMemory(), null, null, ct).ConfigureAwait(false);
                break;
            default:
                var d = new double?[n];
                for (int i = 0; i < n; i++)
                {
                    d[i] = rows[start + i][column] is { } v ? Convert.ToDouble(v, culture) : null;
                }

                await group.WriteAsync<double>(field, d.AsMemory(), null, null, ct).ConfigureAwait(false);
                break;
        }
    }
}
