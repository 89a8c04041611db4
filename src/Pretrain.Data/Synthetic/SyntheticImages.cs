using Pretrain.Data.Sampling;
using Pretrain.Data.Vision;
using Pretrain.Data.Writing;

namespace Pretrain.Data.Synthetic;

/// <summary>
/// Generated labelled images for smoke runs, deterministic from (seed, index): 28×28 gray PNGs in four classes —
/// horizontal stripes, vertical stripes, a filled rectangle, a ring — at random phase, size and position, with
/// pixel noise. Written in the Hugging Face image layout (image {bytes, path} + int64 label), so the image streams,
/// augmentation and probes run on it exactly as on Fashion-MNIST, without a download.
/// </summary>
public static class SyntheticImages
{
    /// <summary>Side of every image in pixels.</summary>
    public const int Size = 28;

    /// <summary>Number of classes (labels 0..3).</summary>
    public const int Classes = 4;

    private const int FormatVersion = 1;

    /// <summary>Image number <paramref name="index"/> for <paramref name="seed"/>: (row-major gray pixels, label).</summary>
    public static (byte[] Pixels, int Label) Image(int seed, long index)
    {
        var rng = new Random(unchecked((int)StableHash.Combine(0x1A6E, (ulong)(uint)seed, (ulong)index)));
        int label = rng.Next(Classes);
        var px = new byte[Size * Size];
        int period = 4 + rng.Next(4), phase = rng.Next(period);
        int x0 = 2 + rng.Next(10), y0 = 2 + rng.Next(10), w = 8 + rng.Next(8), h = 8 + rng.Next(8);
        double cx = 9 + rng.Next(10), cy = 9 + rng.Next(10), r = 5 + rng.Next(5);
        for (int y = 0; y < Size; y++)
        {
            for (int x = 0; x < Size; x++)
            {
                bool on = label switch
                {
                    0 => (y + phase) % period < period / 2,
                    1 => (x + phase) % period < period / 2,
                    2 => x >= x0 && x < x0 + w && y >= y0 && y < y0 + h,
                    _ => Math.Abs(Math.Sqrt(((x - cx) * (x - cx)) + ((y - cy) * (y - cy))) - r) < 1.5,
                };
                int v = (on ? 200 : 30) + rng.Next(-25, 26);
                px[(y * Size) + x] = (byte)Math.Clamp(v, 0, 255);
            }
        }

        return (px, label);
    }

    /// <summary>
    /// Writes <paramref name="shards"/> files <c>part-0000k.parquet</c> holding <paramref name="rows"/> images in
    /// row groups of <paramref name="rowsPerGroup"/>, unless a finished copy with the same parameters is there.
    /// </summary>
    /// <returns>The files, in order.</returns>
    public static IReadOnlyList<string> Write(string outDir, int rows, int shards, int rowsPerGroup, int seed)
    {
        if (rows < 1 || shards < 1 || rowsPerGroup < 1)
        {
            throw new ArgumentException($"Synthetic images need rows, shards and rows_per_group >= 1 (got {rows}, {shards}, {rowsPerGroup}).");
        }

        Directory.CreateDirectory(outDir);
        var paths = Enumerable.Range(0, shards).Select(s => Path.Combine(outDir, $"part-{s:D5}.parquet")).ToArray();
        string marker = Path.Combine(outDir, ".complete");
        string stamp = $"v{FormatVersion} rows={rows} shards={shards} rows_per_group={rowsPerGroup} seed={seed}";
        if (File.Exists(marker) && File.ReadAllText(marker) == stamp && paths.All(File.Exists))
        {
            return paths;
        }

        File.Delete(marker);
        for (int s = 0; s < shards; s++)
        {
            long first = (long)rows * s / shards, end = (long)rows * (s + 1) / shards;
            var items = new List<ImageRow>((int)(end - first));
            for (long i = first; i < end; i++)
            {
                var (px, label) = Image(seed, i);
                items.Add(new ImageRow(ImageCodec.EncodeGray(px, Size, Size), $"{i}.png", label));
            }

            ImageParquetWriter.Write(paths[s], items, rowsPerGroup);
        }

        File.WriteAllText(marker, stamp);
        return paths;
    }
}
