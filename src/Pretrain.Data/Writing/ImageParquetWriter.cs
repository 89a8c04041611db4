using Parquet;
using Parquet.Schema;

namespace Pretrain.Data.Writing;

/// <summary>
/// Writes image rows in the Hugging Face datasets layout: <c>image</c> struct {<c>bytes</c>: binary, <c>path</c>: string}
/// and an int64 <c>label</c> (left out when every row is unlabelled), a fixed number of rows per row group.
/// Atomic: the file is written under a unique temporary name beside the target, then renamed over it.
/// </summary>
public static class ImageParquetWriter
{
    public static void Write(string path, IReadOnlyList<ImageRow> rows, int rowsPerGroup, string imageColumn = "image", string labelColumn = "label") =>
        WriteAsync(path, rows, rowsPerGroup, imageColumn, labelColumn).GetAwaiter().GetResult();

    /// <exception cref="ArgumentException">Some rows have a label and others do not.</exception>
    public static async Task WriteAsync(string path, IReadOnlyList<ImageRow> rows, int rowsPerGroup, string imageColumn = "image",
        string labelColumn = "label", CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rowsPerGroup, 1);
        int labelled = rows.Count(r => r.Label is not null);
        if (labelled != 0 && labelled != rows.Count)
        {
            throw new ArgumentException($"{labelled} of {rows.Count} rows have a label; label every row or none.", nameof(rows));
        }

        bool withLabels = rows.Count > 0 && labelled == rows.Count;
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        string tmp = $"{full}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        var bytesField = new DataField<byte[]>("bytes", true);
        var pathField = new DataField<string>("path", true);
        var labelField = new DataField<long>(labelColumn, false);
        var fields = new List<Field> { new StructField(imageColumn, bytesField, pathField) };
        if (withLabels)
        {
            fields.Add(labelField);
        }

        try
        {
            await using (var stream = File.Create(tmp))
            {
                await using (var writer = await ParquetWriter.CreateAsync(new ParquetSchema(fields), stream, cancellationToken: cancellationToken).ConfigureAwait(false))
                {
                    foreach (var chunk in rows.Chunk(rowsPerGroup))
                    {
                        using var group = writer.CreateRowGroup();
                        await group.WriteAsync(bytesField, chunk.Select(r => r.Bytes).ToArray()).ConfigureAwait(false);
                        await group.WriteAsync(pathField, chunk.Select(r => r.Path).ToArray()).ConfigureAwait(false);
                        if (withLabels)
                        {
                            await group.WriteAsync<long>(labelField, chunk.Select(r => r.Label!.Value).ToArray().AsMemory(), cancellationToken: cancellationToken)
                                .ConfigureAwait(false);
                        }
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
