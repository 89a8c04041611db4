using System.Diagnostics;
using System.Globalization;
using Pretrain.Data.Datasets;
using Pretrain.Data.Sources;
using Pretrain.Data.Vision;
using Pretrain.Data.Writing;
using SkiaSharp;

namespace Pretrain.Bench.Loader;

/// <summary>
/// Image loader rows of the loader benchmark, images/s, median of interleaved repeats:
/// (e) PNG decode alone (28×28 gray, bytes in memory, one thread);
/// (f) Parquet → decode → random-resized crop 28 + flip + normalise, two views (<see cref="ImageStream"/>, 1 worker);
/// (g) the same on every core;
/// (h) 256×256 JPEG → random-resized crop 224 + flip + colour jitter + grayscale + normalise, two views, every core.
/// The 28×28 images are Fashion-MNIST's when its shards are given (--image-files), else synthetic.
/// </summary>
public static class ImageBench
{
    public static void Run(string root, int images, int jpegs, int repeats, string? imageFiles, TextWriter o)
    {
        var sw = Stopwatch.StartNew();
        IReadOnlyList<string> small;
        string origin;
        if (imageFiles is not null)
        {
            small = FileResolver.Resolve([imageFiles], "--image-files");
            origin = $"{imageFiles}";
        }
        else
        {
            small = [Path.Combine(root, "img28.parquet")];
            ImageParquetWriter.Write(small[0], Enumerable.Range(0, images).Select(i => new ImageRow(Synthetic28(i), null, i % 10)).ToList(), 1000);
            origin = "synthetic";
        }

        string large = Path.Combine(root, "img256.parquet");
        ImageParquetWriter.Write(large, Enumerable.Range(0, jpegs).Select(i => new ImageRow(Synthetic256Jpeg(i), null, i % 10)).ToList(), 100);

        using var source = ParquetImageSource.Open(small);
        var pngs = source.Units.SelectMany(u => source.ReadRowGroupAsync(u.File, u.RowGroup).GetAwaiter().GetResult().Bytes).Select(b => b!).ToList();
        long smallRows = source.TotalRows;
        o.WriteLine($"Images: {smallRows:N0} 28×28 PNGs ({origin}, {pngs.Sum(b => (long)b.Length) / (double)smallRows:0} bytes each) and " +
            $"{jpegs:N0} 256×256 JPEGs (q 90); written in {sw.Elapsed.TotalSeconds:0.0} s");
        o.WriteLine();

        var crop28 = new ImageTransformOptions
        {
            RandomResizedCrop = new RandomResizedCropOptions { Size = 28 },
            HorizontalFlip = 0.5,
            Mean = [0.2860f],
            Std = [0.3530f],
        };
        var simclr224 = ImageTransformOptions.SimClr(224, [0.485f, 0.456f, 0.406f], [0.229f, 0.224f, 0.225f]);
        int cores = Environment.ProcessorCount;

        // Warm-up (JIT, Skia, file cache), not timed.
        DecodeAll(pngs.Take(500));
        Stream(small, crop28, 1, 1);
        Stream([large], simclr224, cores, 1);

        var e = new List<double>();
        var f = new List<double>();
        var g = new List<double>();
        var h = new List<double>();
        for (int r = 0; r < repeats; r++)
        {
            e.Add(Time(() => DecodeAll(pngs)));
            f.Add(Time(() => Stream(small, crop28, 1, r)));
            g.Add(Time(() => Stream(small, crop28, cores, r)));
            h.Add(Time(() => Stream([large], simclr224, cores, r)));
        }

        o.WriteLine("| image measurement | median s | images | images/s | views/s |");
        o.WriteLine("| --- | ---: | ---: | ---: | ---: |");
        Row(o, "(e) PNG 28×28 decode alone, 1 thread, bytes in memory", e, smallRows, 1);
        Row(o, "(f) Parquet → PNG 28 → crop 28 + flip + normalise, 2 views, 1 worker", f, smallRows, 2);
        Row(o, $"(g) the same, {cores} workers", g, smallRows, 2);
        Row(o, $"(h) Parquet → JPEG 256 → SimCLR crop 224 + flip + jitter + gray + normalise, 2 views, {cores} workers", h, jpegs, 2);
        o.WriteLine();
    }

    private static double Time(Action work)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var sw = Stopwatch.StartNew();
        work();
        return sw.Elapsed.TotalSeconds;
    }

    private static void Row(TextWriter o, string name, List<double> seconds, long images, int views)
    {
        double t = seconds.Order().ElementAt(seconds.Count / 2);
        o.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {t:0.000} | {images:N0} | {images / t:N0} | {views * images / t:N0} |"));
    }

    private static void DecodeAll(IEnumerable<byte[]> images)
    {
        foreach (byte[] b in images)
        {
            _ = ImageCodec.Decode(b) ?? throw new InvalidOperationException("undecodable benchmark image");
        }
    }

    private static void Stream(IReadOnlyList<string> files, ImageTransformOptions transform, int workers, int seed)
    {
        // A queue of 32 samples: enough to decouple producer and consumer; 224² views are 600 KB each.
        using var stream = new ImageStream(new ImageStreamOptions
        {
            Files = files,
            Seed = seed,
            MaxEpochs = 1,
            Transform = transform,
            TwoViews = true,
            Workers = workers,
            Prefetch = 32,
        });
        while (stream.TryNext(out _, out _))
        {
        }
    }

    /// <summary>A 28×28 gray "garment": a smooth blob with a little noise (compresses like small photos, not like flat test patterns).</summary>
    private static byte[] Synthetic28(int seed)
    {
        var rng = new Random(seed);
        double cx = 10 + (rng.NextDouble() * 8), cy = 10 + (rng.NextDouble() * 8), rx = 5 + (rng.NextDouble() * 7), ry = 6 + (rng.NextDouble() * 7);
        var pixels = new byte[28 * 28];
        for (int y = 0; y < 28; y++)
        {
            for (int x = 0; x < 28; x++)
            {
                double d = (((x - cx) / rx) * ((x - cx) / rx)) + (((y - cy) / ry) * ((y - cy) / ry));
                double v = d < 1 ? 180 + (60 * Math.Sin(x * 0.7) * Math.Cos(y * 0.5)) + rng.Next(-20, 20) : 0;
                pixels[(y * 28) + x] = (byte)Math.Clamp(v, 0, 255);
            }
        }

        return ImageCodec.EncodeGray(pixels, 28, 28);
    }

    private static byte[] Synthetic256Jpeg(int seed)
    {
        var rng = new Random(seed);
        var rgb = new byte[256 * 256 * 3];
        double fx = 0.02 + (rng.NextDouble() * 0.05), fy = 0.02 + (rng.NextDouble() * 0.05);
        for (int y = 0; y < 256; y++)
        {
            for (int x = 0; x < 256; x++)
            {
                int i = 3 * ((y * 256) + x);
                rgb[i] = (byte)(128 + (100 * Math.Sin(x * fx)));
                rgb[i + 1] = (byte)(128 + (100 * Math.Cos(y * fy)));
                rgb[i + 2] = (byte)((x + y + rng.Next(0, 16)) % 256);
            }
        }

        return ImageCodec.EncodeRgb(rgb, 256, 256, SKEncodedImageFormat.Jpeg, 90);
    }
}
