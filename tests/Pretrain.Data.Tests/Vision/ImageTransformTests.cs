using Pretrain.Data.Vision;

namespace Pretrain.Data.Tests.Vision;

public sealed class ImageTransformTests
{
    private static ImagePlanes Ramp(int channels, int height, int width) =>
        new(Enumerable.Range(0, channels * height * width).Select(i => (i % 97) / 96f).ToArray(), channels, height, width);

    private static ImagePlanes Apply(ImagePlanes x, ImageTransformOptions o, ulong seed = 1)
    {
        var rng = new SampleRng(seed);
        return ImageTransform.Apply(x, o, ref rng);
    }

    [Fact]
    public void NoTransformCopiesAndSameSizeResampleIsIdentity()
    {
        var x = Ramp(3, 5, 7);
        var y = Apply(x, ImageTransformOptions.None);
        Assert.NotSame(x.Data, y.Data);
        Assert.Equal(x.Data, y.Data);
        var z = ImageTransform.ResizedCrop(x, 0, 0, 5, 7, 5, 7);
        Assert.Equal(x.Data.Select(v => Math.Round(v, 5)), z.Data.Select(v => Math.Round(v, 5)));
    }

    [Fact]
    public void ShapesFollowResizeCenterCropAndRandomResizedCrop()
    {
        var x = Ramp(3, 20, 30);
        var resized = Apply(x, new ImageTransformOptions { Resize = 10 });
        Assert.Equal((3, 10, 15), (resized.Channels, resized.Height, resized.Width));
        var eval = Apply(x, new ImageTransformOptions { Resize = 12, CenterCrop = 8 });
        Assert.Equal((3, 8, 8), (eval.Channels, eval.Height, eval.Width));
        var crop = Apply(x, new ImageTransformOptions { RandomResizedCrop = new RandomResizedCropOptions { Size = 16 } });
        Assert.Equal((3, 16, 16), (crop.Channels, crop.Height, crop.Width));
        Assert.Equal(3 * 16 * 16, crop.Data.Length);
        var gray = Apply(x, new ImageTransformOptions { Channels = 1 });
        Assert.Equal(1, gray.Channels);
        var rgb = Apply(Ramp(1, 4, 4), new ImageTransformOptions { Channels = 3 });
        Assert.Equal(3, rgb.Channels);
        Assert.Equal(rgb.Plane(0).ToArray(), rgb.Plane(2).ToArray());
    }

    [Fact]
    public void DownscaleAveragesAndConstantImagesStayConstant()
    {
        var flat = new ImagePlanes(Enumerable.Repeat(0.25f, 64 * 48).ToArray(), 1, 48, 64);
        var small = ImageTransform.ResizedCrop(flat, 3, 5, 40, 50, 7, 9);
        Assert.All(small.Data, v => Assert.Equal(0.25f, v, 5));
        // Shrinking widens the filter (antialiasing): 0/1 stripes halve to values near the mean, symmetric about it.
        var stripes = new ImagePlanes([0, 1, 0, 1, 0, 1, 0, 1], 1, 1, 8);
        var half = ImageTransform.ResizedCrop(stripes, 0, 0, 1, 8, 1, 4);
        Assert.All(half.Data, v => Assert.InRange(v, 0.4f, 0.6f));
    }

    [Fact]
    public void NormalizeUsesMeanAndStdPerChannel()
    {
        var x = new ImagePlanes([0f, 0.5f, 1f, 0.2f], 2, 1, 2);
        var y = Apply(x, new ImageTransformOptions { Mean = [0.5f, 0.2f], Std = [0.5f, 0.1f] });
        Assert.Equal([-1f, 0f, 8f, 0f], y.Data.Select(v => MathF.Round(v, 5)).ToArray());
        var single = Apply(new ImagePlanes([0.2860f], 1, 1, 1), new ImageTransformOptions { Mean = [0.2860f], Std = [0.3530f] });
        Assert.Equal(0f, single.Data[0], 6);
        var bad = Assert.Throws<DataException>(() => Apply(Ramp(3, 2, 2), new ImageTransformOptions { Mean = [0.1f, 0.2f], Std = [1f, 1f] }));
        Assert.Contains("3 channel", bad.Message);
    }

    [Fact]
    public void FlipIsAnExactMirror()
    {
        var x = Ramp(3, 4, 5);
        var y = Apply(x, new ImageTransformOptions { HorizontalFlip = 1.0 });
        for (int c = 0; c < 3; c++)
        {
            for (int r = 0; r < 4; r++)
            {
                for (int col = 0; col < 5; col++)
                {
                    Assert.Equal(x.Data[(((c * 4) + r) * 5) + col], y.Data[(((c * 4) + r) * 5) + (4 - col)]);
                }
            }
        }
    }

    [Fact]
    public void RandomResizedCropBoxesStayInsideAndRespectScale()
    {
        var o = new RandomResizedCropOptions { Size = 8, ScaleMin = 0.2, ScaleMax = 0.9 };
        for (ulong s = 0; s < 2000; s++)
        {
            var rng = new SampleRng(s);
            int h = 10 + (int)(s % 40), w = 10 + (int)(s * 7 % 40);
            var (top, left, ch, cw) = ImageTransform.RandomResizedCropBox(h, w, o, ref rng);
            Assert.True(top >= 0 && left >= 0 && ch >= 1 && cw >= 1 && top + ch <= h && left + cw <= w, $"box ({top},{left},{ch},{cw}) in {h}×{w}");
            double ratio = (double)ch * cw / (h * w);
            Assert.InRange(ratio, 0.1, 1.0); // rounding of small boxes widens [0.2, 0.9] slightly; fallback covers up to the full image
        }
    }

    [Fact]
    public void AugmentationIsDeterministicPerSeedAndDiffersAcrossViews()
    {
        var x = Ramp(3, 16, 16);
        var o = ImageTransformOptions.SimClr(12, [0.5f], [0.25f]);
        var a = SampleRng.For(seed: 3, epoch: 1, position: 42, view: 0);
        var b = SampleRng.For(seed: 3, epoch: 1, position: 42, view: 0);
        var c = SampleRng.For(seed: 3, epoch: 1, position: 42, view: 1);
        var va = ImageTransform.Apply(x, o, ref a);
        var vb = ImageTransform.Apply(x, o, ref b);
        var vc = ImageTransform.Apply(x, o, ref c);
        Assert.Equal(va.Data, vb.Data);
        Assert.NotEqual(va.Data, vc.Data);
        var other = SampleRng.For(seed: 3, epoch: 2, position: 42, view: 0);
        Assert.NotEqual(va.Data, ImageTransform.Apply(x, o, ref other).Data);
    }

    [Fact]
    public void ColorJitterAndGrayscaleKeepValuesInRange()
    {
        var x = Ramp(3, 8, 8);
        var o = new ImageTransformOptions
        {
            ColorJitter = new ColorJitterOptions { Brightness = 0.8, Contrast = 0.8, Saturation = 0.8, Hue = 0.2, P = 1 },
        };
        for (ulong s = 0; s < 50; s++)
        {
            var y = Apply(x, o, s);
            Assert.All(y.Data, v => Assert.InRange(v, 0f, 1f));
        }

        Assert.NotEqual(x.Data, Apply(x, o, 5).Data);
        var gray = Apply(x, new ImageTransformOptions { Grayscale = 1 });
        Assert.Equal(gray.Plane(0).ToArray(), gray.Plane(1).ToArray());
        Assert.Equal(gray.Plane(0).ToArray(), gray.Plane(2).ToArray());
        Assert.Equal(ImageTransform.ToGray(x).Data, gray.Plane(0).ToArray());
    }

    [Fact]
    public void HueShiftKeepsTheValueAndTheRange()
    {
        var red = new ImagePlanes([1f, 0f, 0f], 3, 1, 1);
        var o = new ImageTransformOptions { ColorJitter = new ColorJitterOptions { Hue = 0.5, P = 1 } };
        var y = Apply(red, o, 9);
        Assert.Equal(1f, Math.Max(y.Data[0], Math.Max(y.Data[1], y.Data[2])), 5);
        Assert.All(y.Data, v => Assert.InRange(v, 0f, 1f));
    }

    [Fact]
    public void ForEvalIsDeterministicResizeAndCenterCrop()
    {
        var o = ImageTransformOptions.SimClr(8, [0.5f], [0.5f]).ForEval();
        Assert.False(o.IsRandom);
        Assert.Equal((8, 8), (o.Resize, o.CenterCrop));
        var x = Ramp(3, 12, 10);
        Assert.Equal(Apply(x, o, 1).Data, Apply(x, o, 2).Data);
        Assert.Equal(3 * 8 * 8, Apply(x, o, 1).Data.Length);
    }

    [Fact]
    public void ValidateNamesTheSetting()
    {
        var e = Assert.Throws<DataException>(() => new ImageTransformOptions { HorizontalFlip = 2 }.Validate("data.train"));
        Assert.Contains("data.train.transform.horizontal_flip", e.Message);
        var e2 = Assert.Throws<DataException>(() => new ImageTransformOptions { Mean = [0.5f] }.Validate("data.eval"));
        Assert.Contains("mean and std", e2.Message);
    }
}
