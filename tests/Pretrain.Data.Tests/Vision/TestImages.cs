using Pretrain.Data.Vision;
using Pretrain.Data.Writing;
using SkiaSharp;

namespace Pretrain.Data.Tests.Vision;

/// <summary>Small encoded images and Parquet image datasets for tests.</summary>
internal static class TestImages
{
    /// <summary>A width × height gray PNG whose pixel (y, x) is (seed + 7y + 3x) mod 256.</summary>
    public static byte[] GrayPng(int width, int height, int seed = 0) =>
        ImageCodec.EncodeGray(GrayPixels(width, height, seed), width, height);

    public static byte[] GrayPixels(int width, int height, int seed = 0)
    {
        var pixels = new byte[width * height];
        for (int y = 0; y < height; y++)
        {
            for (int x = 0; x < width; x++)
            {
                pixels[(y * width) + x] = (byte)((seed + (7 * y) + (3 * x)) % 256);
            }
        }

        return pixels;
    }

    /// <summary>Interleaved RGB with R = 10x, G = 20y, B = 200 (mod 256).</summary>
    public static byte[] RgbPixels(int width, int height)
    {
        var rgb = new byte[3 * width * height];
        for (int y = 0; y < height; y++)
        {
            for (int x = 0; x < width; x++)
            {
                int i = 3 * ((y * width) + x);
                rgb[i] = (byte)(10 * x % 256);
                rgb[i + 1] = (byte)(20 * y % 256);
                rgb[i + 2] = 200;
            }
        }

        return rgb;
    }

    public static byte[] Rgb(int width, int height, SKEncodedImageFormat format) =>
        ImageCodec.EncodeRgb(RgbPixels(width, height), width, height, format, 95);

    /// <summary>(rows, rows per group) per file: 11 row groups, 49 rows.</summary>
    public static readonly (int Rows, int PerGroup)[] Layout = [(23, 5), (17, 4), (9, 9)];

    public static int TotalRows => Layout.Sum(l => l.Rows);

    /// <summary>
    /// Image files whose row with global id i has label i and a 6×5 gray PNG seeded with i (so pixels identify the row);
    /// ids listed in <paramref name="broken"/> get bytes that are not an image.
    /// </summary>
    public static IReadOnlyList<string> WriteIdFiles(TempDir dir, ISet<int>? broken = null)
    {
        var paths = new List<string>();
        int next = 0;
        for (int f = 0; f < Layout.Length; f++)
        {
            var rows = Enumerable.Range(next, Layout[f].Rows)
                .Select(i => new ImageRow(broken?.Contains(i) == true ? "not an image"u8.ToArray() : GrayPng(6, 5, i), $"img/{i}.png", i))
                .ToList();
            string path = dir.File($"images-{f}.parquet");
            ImageParquetWriter.Write(path, rows, Layout[f].PerGroup);
            paths.Add(path);
            next += Layout[f].Rows;
        }

        return paths;
    }
}
