using System.Runtime.InteropServices;
using SkiaSharp;

namespace Pretrain.Data.Vision;

/// <summary>
/// Decodes and encodes images with SkiaSharp (PNG, JPEG, WebP, GIF, BMP, ICO, WBMP — what Skia's codecs read).
/// Gray images decode to one channel, everything else to three (RGB; alpha is dropped, EXIF orientation ignored).
/// </summary>
public static class ImageCodec
{
    /// <summary>byte → byte / 255f (exactly what torchvision's ToTensor computes).</summary>
    private static readonly float[] Unit = Enumerable.Range(0, 256).Select(b => b / 255f).ToArray();

    /// <summary>Decoded pixels as 0..1 planes, or null when the bytes are not an image Skia can decode (or are truncated).</summary>
    public static ImagePlanes? Decode(byte[] bytes)
    {
        if (bytes.Length == 0)
        {
            return null;
        }

        using var data = SKData.CreateCopy(bytes);
        using var codec = SKCodec.Create(data);
        if (codec is null)
        {
            return null;
        }

        var info = codec.Info;
        if (info.Width < 1 || info.Height < 1)
        {
            return null;
        }

        bool gray = info.ColorType == SKColorType.Gray8;
        var target = new SKImageInfo(info.Width, info.Height, gray ? SKColorType.Gray8 : SKColorType.Rgba8888,
            gray ? SKAlphaType.Opaque : SKAlphaType.Unpremul);
        var result = codec.GetPixels(target, out byte[] pixels);
        if (result != SKCodecResult.Success || pixels is null)
        {
            return null;
        }

        int h = info.Height, w = info.Width, n = h * w;
        if (gray)
        {
            var planes = new float[n];
            for (int i = 0; i < n; i++)
            {
                planes[i] = Unit[pixels[i]];
            }

            return new ImagePlanes(planes, 1, h, w);
        }

        var rgb = new float[3 * n];
        for (int i = 0; i < n; i++)
        {
            rgb[i] = Unit[pixels[4 * i]];
            rgb[n + i] = Unit[pixels[(4 * i) + 1]];
            rgb[(2 * n) + i] = Unit[pixels[(4 * i) + 2]];
        }

        return new ImagePlanes(rgb, 3, h, w);
    }

    /// <summary>Encodes 8-bit gray pixels (row-major, <paramref name="width"/> × <paramref name="height"/>) as a gray PNG.</summary>
    public static byte[] EncodeGray(ReadOnlySpan<byte> pixels, int width, int height, SKEncodedImageFormat format = SKEncodedImageFormat.Png, int quality = 100)
    {
        if (pixels.Length != width * height)
        {
            throw new ArgumentException($"{pixels.Length} pixels for a {width}×{height} gray image.", nameof(pixels));
        }

        return Encode(pixels, new SKImageInfo(width, height, SKColorType.Gray8, SKAlphaType.Opaque), format, quality);
    }

    /// <summary>Encodes 8-bit RGB pixels (interleaved R, G, B per pixel, row-major) as PNG or JPEG.</summary>
    public static byte[] EncodeRgb(ReadOnlySpan<byte> rgb, int width, int height, SKEncodedImageFormat format = SKEncodedImageFormat.Png, int quality = 95)
    {
        if (rgb.Length != 3 * width * height)
        {
            throw new ArgumentException($"{rgb.Length} bytes for a {width}×{height} RGB image.", nameof(rgb));
        }

        var rgba = new byte[4 * width * height];
        for (int i = 0, n = width * height; i < n; i++)
        {
            rgba[4 * i] = rgb[3 * i];
            rgba[(4 * i) + 1] = rgb[(3 * i) + 1];
            rgba[(4 * i) + 2] = rgb[(3 * i) + 2];
            rgba[(4 * i) + 3] = 255;
        }

        return Encode(rgba, new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque), format, quality);
    }

    /// <summary>True when Skia recognises the bytes as an image format it can decode (header only; no pixel decode).</summary>
    public static bool IsRecognised(byte[] bytes)
    {
        if (bytes.Length == 0)
        {
            return false;
        }

        using var data = SKData.CreateCopy(bytes);
        using var codec = SKCodec.Create(data);
        return codec is not null;
    }

    private static byte[] Encode(ReadOnlySpan<byte> pixels, SKImageInfo info, SKEncodedImageFormat format, int quality)
    {
        using var bitmap = new SKBitmap(info);
        if (bitmap.RowBytes != info.BytesPerPixel * info.Width)
        {
            throw new InvalidOperationException($"unexpected row stride {bitmap.RowBytes} for a {info.Width}-pixel row.");
        }

        Marshal.Copy(pixels.ToArray(), 0, bitmap.GetPixels(), pixels.Length);

        using var image = SKImage.FromBitmap(bitmap);
        using var encoded = image.Encode(format, quality)
            ?? throw new InvalidOperationException($"SkiaSharp could not encode a {info.Width}×{info.Height} {info.ColorType} image as {format}.");
        return encoded.ToArray();
    }
}
