using Pretrain.Data.Vision;
using SkiaSharp;

namespace Pretrain.Data.Tests.Vision;

public sealed class ImageCodecTests
{
    [Fact]
    public void GrayPngDecodesToOneChannelExactly()
    {
        var planes = ImageCodec.Decode(TestImages.GrayPng(6, 5, seed: 11))!;
        Assert.Equal((1, 5, 6), (planes.Channels, planes.Height, planes.Width));
        var expected = TestImages.GrayPixels(6, 5, 11).Select(b => b / 255f);
        Assert.Equal(expected, planes.Data);
    }

    [Fact]
    public void RgbPngDecodesToThreePlanesExactly()
    {
        var planes = ImageCodec.Decode(TestImages.Rgb(4, 3, SKEncodedImageFormat.Png))!;
        Assert.Equal((3, 3, 4), (planes.Channels, planes.Height, planes.Width));
        var rgb = TestImages.RgbPixels(4, 3);
        for (int i = 0; i < 12; i++)
        {
            Assert.Equal(rgb[3 * i] / 255f, planes.Data[i]);
            Assert.Equal(rgb[(3 * i) + 1] / 255f, planes.Data[12 + i]);
            Assert.Equal(rgb[(3 * i) + 2] / 255f, planes.Data[24 + i]);
        }
    }

    [Fact]
    public void JpegDecodesCloseToItsSource()
    {
        var flat = Enumerable.Range(0, 16 * 16).SelectMany(_ => new byte[] { 200, 40, 90 }).ToArray();
        byte[] jpeg = ImageCodec.EncodeRgb(flat, 16, 16, SKEncodedImageFormat.Jpeg, 95);
        Assert.Equal(new byte[] { 0xFF, 0xD8 }, jpeg[..2]);
        var planes = ImageCodec.Decode(jpeg)!;
        Assert.Equal((3, 16, 16), (planes.Channels, planes.Height, planes.Width));
        Assert.All(planes.Data[..256], v => Assert.InRange(v, (200 - 6) / 255f, (200 + 6) / 255f));
        Assert.All(planes.Data[256..512], v => Assert.InRange(v, (40 - 6) / 255f, (40 + 6) / 255f));
        Assert.All(planes.Data[512..], v => Assert.InRange(v, (90 - 6) / 255f, (90 + 6) / 255f));
    }

    [Fact]
    public void GrayJpegDecodesToOneChannel()
    {
        byte[] jpeg = ImageCodec.EncodeGray(Enumerable.Repeat((byte)128, 64).ToArray(), 8, 8, SKEncodedImageFormat.Jpeg, 95);
        var planes = ImageCodec.Decode(jpeg)!;
        Assert.Equal(1, planes.Channels);
        Assert.All(planes.Data, v => Assert.InRange(v, 124 / 255f, 132 / 255f));
    }

    [Fact]
    public void GarbageAndTruncatedBytesDoNotDecode()
    {
        Assert.Null(ImageCodec.Decode("hello"u8.ToArray()));
        Assert.Null(ImageCodec.Decode([]));
        byte[] png = TestImages.GrayPng(32, 32);
        Assert.Null(ImageCodec.Decode(png[..(png.Length / 2)]));
        Assert.False(ImageCodec.IsRecognised("hello"u8.ToArray()));
        Assert.True(ImageCodec.IsRecognised(png));
    }
}
