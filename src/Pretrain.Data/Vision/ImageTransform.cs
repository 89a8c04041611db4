namespace Pretrain.Data.Vision;

/// <summary>
/// Applies an <see cref="ImageTransformOptions"/> pipeline to decoded planes on the CPU. Random steps draw from the
/// caller's <see cref="SampleRng"/> in a fixed order, so the same (seed, epoch, position, view) always gives the same
/// view. Resampling is separable triangle filtering (bilinear, widened when shrinking, like PIL's antialiased resize),
/// restricted to the crop box.
/// </summary>
public static class ImageTransform
{
    private const float R = 0.299f, G = 0.587f, B = 0.114f;

    /// <summary>Runs the pipeline; <paramref name="image"/> is not modified.</summary>
    /// <exception cref="DataException">Mean/std lengths do not fit the image's channel count.</exception>
    public static ImagePlanes Apply(ImagePlanes image, ImageTransformOptions o, ref SampleRng rng)
    {
        var x = image;
        if (o.Channels is int c && c != x.Channels)
        {
            x = c == 1 ? ToGray(x) : Replicate(x, c);
        }

        if (o.Resize is int shorter)
        {
            var (h, w) = x.Height <= x.Width
                ? (shorter, Math.Max(1, (int)((long)shorter * x.Width / x.Height)))
                : (Math.Max(1, (int)((long)shorter * x.Height / x.Width)), shorter);
            if (h != x.Height || w != x.Width)
            {
                x = ResizedCrop(x, 0, 0, x.Height, x.Width, h, w);
            }
        }

        if (o.CenterCrop is int size && (size != x.Height || size != x.Width))
        {
            x = CenterCrop(x, size);
        }

        if (o.RandomResizedCrop is { } rrc)
        {
            var (top, left, h, w) = RandomResizedCropBox(x.Height, x.Width, rrc, ref rng);
            x = ResizedCrop(x, top, left, h, w, rrc.Size, rrc.Size);
        }

        if (x == image)
        {
            x = new ImagePlanes((float[])image.Data.Clone(), image.Channels, image.Height, image.Width);
        }

        if (o.HorizontalFlip > 0 && rng.NextDouble() < o.HorizontalFlip)
        {
            FlipHorizontal(x);
        }

        if (o.ColorJitter is { P: > 0 } jitter && rng.NextDouble() < jitter.P)
        {
            ColorJitter(x, jitter, ref rng);
        }

        if (o.Grayscale > 0 && rng.NextDouble() < o.Grayscale && x.Channels == 3)
        {
            GrayInPlace(x);
        }

        if (o.Mean is { } mean && o.Std is { } std)
        {
            Normalize(x, mean, std);
        }

        return x;
    }

    /// <summary>
    /// torchvision's RandomResizedCrop.get_params: up to 10 tries at a box of area fraction U(scale) and log-uniform
    /// aspect ratio that fits; otherwise the whole image cropped to the nearest allowed ratio, centred.
    /// </summary>
    /// <returns>(top, left, height, width), always inside the image and at least 1×1.</returns>
    public static (int Top, int Left, int Height, int Width) RandomResizedCropBox(int height, int width, RandomResizedCropOptions o, ref SampleRng rng)
    {
        double area = (double)height * width;
        double logMin = Math.Log(o.RatioMin), logMax = Math.Log(o.RatioMax);
        for (int attempt = 0; attempt < 10; attempt++)
        {
            double target = area * rng.Uniform(o.ScaleMin, o.ScaleMax);
            double aspect = Math.Exp(rng.Uniform(logMin, logMax));
            int w = (int)Math.Round(Math.Sqrt(target * aspect));
            int h = (int)Math.Round(Math.Sqrt(target / aspect));
            if (w > 0 && w <= width && h > 0 && h <= height)
            {
                int top = rng.NextInt(height - h + 1);
                int left = rng.NextInt(width - w + 1);
                return (top, left, h, w);
            }
        }

        double ratio = (double)width / height;
        int fw = width, fh = height;
        if (ratio < o.RatioMin)
        {
            fh = Math.Clamp((int)Math.Round(fw / o.RatioMin), 1, height);
        }
        else if (ratio > o.RatioMax)
        {
            fw = Math.Clamp((int)Math.Round(fh * o.RatioMax), 1, width);
        }

        return ((height - fh) / 2, (width - fw) / 2, fh, fw);
    }

    /// <summary>Resamples the box (top, left, h, w) of <paramref name="x"/> to outH × outW; taps never leave the box.</summary>
    public static ImagePlanes ResizedCrop(ImagePlanes x, int top, int left, int h, int w, int outH, int outW)
    {
        if (top < 0 || left < 0 || h < 1 || w < 1 || top + h > x.Height || left + w > x.Width)
        {
            throw new ArgumentOutOfRangeException(nameof(top), $"crop box ({top}, {left}, {h}, {w}) is outside the {x.Height}×{x.Width} image.");
        }

        var (xFirst, xCount, xWeights, xTaps) = Weights(left, w, outW);
        var (yFirst, yCount, yWeights, yTaps) = Weights(top, h, outH);
        int channels = x.Channels, width = x.Width;
        var tmp = new float[channels * h * outW];
        var src = x.Data;
        for (int c = 0; c < channels; c++)
        {
            for (int y = 0; y < h; y++)
            {
                int row = ((c * x.Height) + top + y) * width;
                int trow = ((c * h) + y) * outW;
                for (int ox = 0; ox < outW; ox++)
                {
                    float sum = 0;
                    int first = row + xFirst[ox], wi = ox * xTaps;
                    for (int k = 0; k < xCount[ox]; k++)
                    {
                        sum += xWeights[wi + k] * src[first + k];
                    }

                    tmp[trow + ox] = sum;
                }
            }
        }

        var dst = new float[channels * outH * outW];
        for (int c = 0; c < channels; c++)
        {
            for (int oy = 0; oy < outH; oy++)
            {
                int drow = ((c * outH) + oy) * outW;
                int wi = oy * yTaps;
                for (int k = 0; k < yCount[oy]; k++)
                {
                    float wk = yWeights[wi + k];
                    int trow = ((c * h) + (yFirst[oy] - top) + k) * outW;
                    for (int ox = 0; ox < outW; ox++)
                    {
                        dst[drow + ox] += wk * tmp[trow + ox];
                    }
                }
            }
        }

        return new ImagePlanes(dst, channels, outH, outW);
    }

    /// <summary>Centred size × size crop (torchvision's rounding); zero padding where the image is smaller.</summary>
    public static ImagePlanes CenterCrop(ImagePlanes x, int size)
    {
        int top = (int)Math.Round((x.Height - size) / 2.0), left = (int)Math.Round((x.Width - size) / 2.0);
        var dst = ImagePlanes.Zeros(x.Channels, size, size);
        for (int c = 0; c < x.Channels; c++)
        {
            for (int oy = 0; oy < size; oy++)
            {
                int sy = top + oy;
                if (sy < 0 || sy >= x.Height)
                {
                    continue;
                }

                for (int ox = 0; ox < size; ox++)
                {
                    int sx = left + ox;
                    if (sx >= 0 && sx < x.Width)
                    {
                        dst.Data[(((c * size) + oy) * size) + ox] = x.Data[(((c * x.Height) + sy) * x.Width) + sx];
                    }
                }
            }
        }

        return dst;
    }

    /// <summary>Mirrors every row in place (left ↔ right).</summary>
    public static void FlipHorizontal(ImagePlanes x)
    {
        for (int r = 0, rows = x.Channels * x.Height; r < rows; r++)
        {
            x.Data.AsSpan(r * x.Width, x.Width).Reverse();
        }
    }

    /// <summary>(x − mean[c]) / std[c] in place; one value applies to every channel.</summary>
    public static void Normalize(ImagePlanes x, float[] mean, float[] std)
    {
        if ((mean.Length != 1 && mean.Length != x.Channels) || std.Length != mean.Length)
        {
            throw new DataException(
                $"normalisation has {mean.Length} mean and {std.Length} std value(s) but the image has {x.Channels} channel(s); " +
                "give one value, or one per channel (or set transform.channels).");
        }

        for (int c = 0; c < x.Channels; c++)
        {
            float m = mean[mean.Length == 1 ? 0 : c], inv = 1f / std[std.Length == 1 ? 0 : c];
            var plane = x.Plane(c);
            for (int i = 0; i < plane.Length; i++)
            {
                plane[i] = (plane[i] - m) * inv;
            }
        }
    }

    /// <summary>ITU-R 601 luma (0.299, 0.587, 0.114) as a one-channel image.</summary>
    public static ImagePlanes ToGray(ImagePlanes x)
    {
        if (x.Channels == 1)
        {
            return x;
        }

        int n = x.Height * x.Width;
        var gray = new float[n];
        for (int i = 0; i < n; i++)
        {
            gray[i] = (R * x.Data[i]) + (G * x.Data[n + i]) + (B * x.Data[(2 * n) + i]);
        }

        return new ImagePlanes(gray, 1, x.Height, x.Width);
    }

    private static ImagePlanes Replicate(ImagePlanes x, int channels)
    {
        var gray = x.Channels == 1 ? x : ToGray(x);
        int n = x.Height * x.Width;
        var data = new float[channels * n];
        for (int c = 0; c < channels; c++)
        {
            gray.Data.AsSpan(0, n).CopyTo(data.AsSpan(c * n, n));
        }

        return new ImagePlanes(data, channels, x.Height, x.Width);
    }

    private static void GrayInPlace(ImagePlanes x)
    {
        int n = x.Height * x.Width;
        var d = x.Data;
        for (int i = 0; i < n; i++)
        {
            float g = (R * d[i]) + (G * d[n + i]) + (B * d[(2 * n) + i]);
            d[i] = g;
            d[n + i] = g;
            d[(2 * n) + i] = g;
        }
    }

    private static void ColorJitter(ImagePlanes x, ColorJitterOptions o, ref SampleRng rng)
    {
        Span<int> order = [0, 1, 2, 3];
        for (int i = 3; i > 0; i--)
        {
            int j = rng.NextInt(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }

        // Factors are drawn in a fixed order whatever the application order, as torchvision does.
        float brightness = o.Brightness > 0 ? (float)rng.Uniform(Math.Max(0, 1 - o.Brightness), 1 + o.Brightness) : 1f;
        float contrast = o.Contrast > 0 ? (float)rng.Uniform(Math.Max(0, 1 - o.Contrast), 1 + o.Contrast) : 1f;
        float saturation = o.Saturation > 0 ? (float)rng.Uniform(Math.Max(0, 1 - o.Saturation), 1 + o.Saturation) : 1f;
        float hue = o.Hue > 0 ? (float)rng.Uniform(-o.Hue, o.Hue) : 0f;
        foreach (int step in order)
        {
            switch (step)
            {
                case 0 when o.Brightness > 0:
                    Blend(x, brightness, 0f);
                    break;
                case 1 when o.Contrast > 0:
                    Blend(x, contrast, MeanGray(x));
                    break;
                case 2 when o.Saturation > 0 && x.Channels == 3:
                    Saturate(x, saturation);
                    break;
                case 3 when o.Hue > 0 && x.Channels == 3:
                    ShiftHue(x, hue);
                    break;
                default:
                    break;
            }
        }
    }

    /// <summary>x ← clamp(f·x + (1 − f)·other, 0, 1).</summary>
    private static void Blend(ImagePlanes x, float f, float other)
    {
        float add = (1 - f) * other;
        var d = x.Data;
        for (int i = 0; i < d.Length; i++)
        {
            d[i] = Math.Clamp((f * d[i]) + add, 0f, 1f);
        }
    }

    private static float MeanGray(ImagePlanes x)
    {
        double sum = 0;
        if (x.Channels == 1)
        {
            foreach (float v in x.Data)
            {
                sum += v;
            }

            return (float)(sum / x.Data.Length);
        }

        int n = x.Height * x.Width;
        for (int i = 0; i < n; i++)
        {
            sum += (R * x.Data[i]) + (G * x.Data[n + i]) + (B * x.Data[(2 * n) + i]);
        }

        return (float)(sum / n);
    }

    private static void Saturate(ImagePlanes x, float f)
    {
        int n = x.Height * x.Width;
        var d = x.Data;
        for (int i = 0; i < n; i++)
        {
            float g = (1 - f) * ((R * d[i]) + (G * d[n + i]) + (B * d[(2 * n) + i]));
            d[i] = Math.Clamp((f * d[i]) + g, 0f, 1f);
            d[n + i] = Math.Clamp((f * d[n + i]) + g, 0f, 1f);
            d[(2 * n) + i] = Math.Clamp((f * d[(2 * n) + i]) + g, 0f, 1f);
        }
    }

    /// <summary>Rotates hue by <paramref name="shift"/> turns through HSV (values stay in 0..1).</summary>
    private static void ShiftHue(ImagePlanes x, float shift)
    {
        int n = x.Height * x.Width;
        var d = x.Data;
        for (int i = 0; i < n; i++)
        {
            float r = d[i], g = d[n + i], b = d[(2 * n) + i];
            float max = Math.Max(r, Math.Max(g, b)), min = Math.Min(r, Math.Min(g, b)), delta = max - min;
            if (delta <= 0)
            {
                continue; // gray: no hue
            }

            float h = max == r ? (g - b) / delta : max == g ? 2 + ((b - r) / delta) : 4 + ((r - g) / delta);
            h = (h / 6f) + shift;
            h -= MathF.Floor(h);
            float s = delta / max, v = max;
            float h6 = h * 6f;
            int sector = Math.Min((int)h6, 5);
            float f = h6 - sector;
            float p = v * (1 - s), q = v * (1 - (s * f)), t = v * (1 - (s * (1 - f)));
            (r, g, b) = sector switch
            {
                0 => (v, t, p),
                1 => (q, v, p),
                2 => (p, v, t),
                3 => (p, q, v),
                4 => (t, p, v),
                _ => (v, p, q),
            };
            d[i] = r;
            d[n + i] = g;
            d[(2 * n) + i] = b;
        }
    }

    /// <summary>Triangle-filter taps per output index, clipped to [start, start + length) and normalised.</summary>
    private static (int[] First, int[] Count, float[] Weights, int Taps) Weights(int start, int length, int outLength)
    {
        double scale = (double)length / outLength;
        double support = Math.Max(1.0, scale);
        int taps = (2 * (int)Math.Ceiling(support)) + 2;
        var first = new int[outLength];
        var count = new int[outLength];
        var weights = new float[outLength * taps];
        for (int o = 0; o < outLength; o++)
        {
            double center = start + ((o + 0.5) * scale);
            int lo = Math.Max(start, (int)Math.Floor(center - support));
            int hi = Math.Min(start + length, (int)Math.Ceiling(center + support));
            hi = Math.Min(hi, lo + taps);
            double total = 0;
            for (int i = lo; i < hi; i++)
            {
                double t = Math.Abs((i + 0.5 - center) / support);
                double wgt = Math.Max(0, 1 - t);
                weights[(o * taps) + (i - lo)] = (float)wgt;
                total += wgt;
            }

            if (total <= 0)
            {
                // Cannot happen for a non-empty box (the nearest pixel has t < 1), but never divide by zero.
                int nearest = Math.Clamp((int)Math.Floor(center), start, start + length - 1);
                lo = nearest;
                hi = nearest + 1;
                weights[o * taps] = 1;
                total = 1;
            }

            for (int i = 0; i < hi - lo; i++)
            {
                weights[(o * taps) + i] = (float)(weights[(o * taps) + i] / total);
            }

            first[o] = lo;
            count[o] = hi - lo;
        }

        return (first, count, weights, taps);
    }
}
