using Pretrain.Data.Sampling;
using Pretrain.Data.Vision;

namespace Pretrain.Data.Writing;

/// <summary>
/// An image folder with one subfolder per class (<c>DIR/&lt;class&gt;/…/&lt;image&gt;</c>) → Parquet shards in the Hugging Face
/// image layout. Labels are the classes' indices in ordinal order of their folder names (written to classes.json);
/// the encoded files are stored as they are (no re-encoding) after a full decode check, with <c>path</c> =
/// "&lt;class&gt;/&lt;relative path&gt;". Rows are shuffled with a seed, so row groups mix classes (streams shuffle row
/// groups and rows within them, not across them).
/// </summary>
public static class ImageFolderConverter
{
    /// <summary>File extensions read as images (case-insensitive); other files are ignored and counted.</summary>
    public static readonly IReadOnlySet<string> Extensions =
        new HashSet<string>([".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp"], StringComparer.OrdinalIgnoreCase);

    /// <exception cref="DataException">No class folders or no images, or an image that does not decode (named).</exception>
    public static PreparedDataset Convert(string dir, string outDir, int rowsPerGroup = 1000, int rowsPerFile = 50_000, int seed = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rowsPerGroup, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(rowsPerFile, 1);
        if (!Directory.Exists(dir))
        {
            throw new DataException($"{dir} does not exist or is not a folder (expected DIR/<class>/<image>).");
        }

        var classes = Directory.GetDirectories(dir).Select(Path.GetFileName).Select(n => n!)
            .Where(n => !n.StartsWith('.')).Order(StringComparer.Ordinal).ToList();
        if (classes.Count == 0)
        {
            throw new DataException($"{dir} has no class subfolders; expected one folder per class: {dir}/<class>/<image>.png.");
        }

        var items = new List<(string File, string Relative, int Label)>();
        for (int label = 0; label < classes.Count; label++)
        {
            string classDir = Path.Combine(dir, classes[label]);
            foreach (string file in Directory.EnumerateFiles(classDir, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
            {
                if (Extensions.Contains(Path.GetExtension(file)))
                {
                    items.Add((file, Path.GetRelativePath(dir, file).Replace('\\', '/'), label));
                }
            }
        }

        if (items.Count == 0)
        {
            throw new DataException($"{dir}: the class folders hold no images ({string.Join(", ", Extensions)}).");
        }

        var order = items.ToArray();
        StableHash.Shuffle(order.AsSpan(), StableHash.Combine((ulong)(uint)seed, 0x1F01DE5UL));

        IEnumerable<IReadOnlyList<ImageRow>> Shards()
        {
            for (int start = 0; start < order.Length; start += rowsPerFile)
            {
                int n = Math.Min(rowsPerFile, order.Length - start);
                var rows = new ImageRow[n];
                Parallel.For(0, n, i =>
                {
                    var (file, relative, label) = order[start + i];
                    byte[] bytes = File.ReadAllBytes(file);
                    if (ImageCodec.Decode(bytes) is null)
                    {
                        throw new DataException(
                            $"{file} is not an image SkiaSharp can decode ({bytes.Length} bytes); re-encode it as PNG or JPEG, or remove it from {dir}.");
                    }

                    rows[i] = new ImageRow(bytes, relative, label);
                });
                yield return rows;
            }
        }

        try
        {
            return ImageShards.Write(outDir, Shards(), rowsPerGroup, classes);
        }
        catch (AggregateException e) when (e.InnerExceptions.FirstOrDefault(x => x is DataException) is { } first)
        {
            throw first;
        }
    }
}
