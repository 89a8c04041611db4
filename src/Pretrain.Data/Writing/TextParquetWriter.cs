using Parquet;
using Parquet.Schema;

namespace Pretrain.Data.Writing;

/// <summary>
/// Writes a Parquet file with one string column (nullable), a fixed number of rows per row group.
/// Atomic: the file is written under a unique temporary name beside the target, then renamed over it.
/// </summary>
public static class TextParquetWriter
{
    public static void Write(string path, IEnumerable<string?> rows, int rowsPerGroup, string column = "text") =>
        WriteAsync(path, rows, rowsPerGroup, column).GetAwaiter().GetResult();

    public static async Task WriteAsync(string path, IEnumerable<string?> rows, int rowsPerGroup, string column = "text",
        CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rowsPerGroup, 1);
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        string tmp = $"{full}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        var field = new DataField<string>(column, true);
        try
        {
            await using (var stream = File.Create(tmp))
            {
                await using (var writer = await ParquetWriter.CreateAsync(new ParquetSchema(field), stream, cancellationToken: cancellationToken).ConfigureAwait(false))
                {
                    foreach (var chunk in rows.Chunk(rowsPerGroup))
                    {
                        using var group = writer.CreateRowGroup();
                        await group.WriteAsync(field, chunk).ConfigureAwait(false);
                    }
                }

                await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
            }

            File.Move(tmp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp))
            {
                File.Delete(tmp);
            }
        }
    }
}
