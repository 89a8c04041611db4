namespace Pretrain.Data.Vision;

/// <summary>
/// Image pipeline of a stream, applied in this order to each decoded image (values 0..1, CHW):
/// <see cref="Channels"/> conversion → <see cref="Resize"/> (shorter side) → <see cref="CenterCrop"/> →
/// <see cref="RandomResizedCrop"/> → <see cref="HorizontalFlip"/> → <see cref="ColorJitter"/> →
/// <see cref="Grayscale"/> → <see cref="Mean"/>/<see cref="Std"/> normalisation. Random steps draw from a per-view
/// <see cref="SampleRng"/>; <see cref="ForEval"/> gives the deterministic counterpart for eval streams.
/// </summary>
public sealed record ImageTransformOptions
{
    /// <summary>null keeps what the file holds (gray → 1 channel, colour → 3); 1 converts to gray; 3 converts gray to RGB.</summary>
    public int? Channels { get; init; }

    /// <summary>Resize so the shorter side is this many pixels (aspect kept, bilinear).</summary>
    public int? Resize { get; init; }

    /// <summary>Centred square crop of this size (after <see cref="Resize"/>); an image smaller than it is zero-padded.</summary>
    public int? CenterCrop { get; init; }

    public RandomResizedCropOptions? RandomResizedCrop { get; init; }

    /// <summary>Probability of a left-right mirror.</summary>
    public double HorizontalFlip { get; init; }

    public ColorJitterOptions? ColorJitter { get; init; }

    /// <summary>Probability of converting to gray (kept at the same channel count; SimCLR: 0.2).</summary>
    public double Grayscale { get; init; }

    /// <summary>Per-channel mean subtracted after the other steps (one value for all channels, or one per channel).</summary>
    public float[]? Mean { get; init; }

    /// <summary>Per-channel standard deviation divided by (same length rules as <see cref="Mean"/>).</summary>
    public float[]? Std { get; init; }

    /// <summary>True when any step is random (a crop, flip, jitter or grayscale with nonzero probability).</summary>
    public bool IsRandom => RandomResizedCrop is not null || HorizontalFlip > 0 || (ColorJitter is { P: > 0 }) || Grayscale > 0;

    /// <summary>No transform: decoded pixels in 0..1.</summary>
    public static ImageTransformOptions None { get; } = new();

    /// <summary>
    /// The deterministic counterpart for eval: a random-resized crop of size S becomes resize (shorter side S unless
    /// <see cref="Resize"/> is set) then centre crop S; flip, jitter and grayscale are dropped; channels and
    /// normalisation stay.
    /// </summary>
    public ImageTransformOptions ForEval() => this with
    {
        Resize = RandomResizedCrop is { } c ? Resize ?? c.Size : Resize,
        CenterCrop = RandomResizedCrop is { } c2 ? c2.Size : CenterCrop,
        RandomResizedCrop = null,
        HorizontalFlip = 0,
        ColorJitter = null,
        Grayscale = 0,
    };

    /// <summary>
    /// SimCLR's augmentation (Chen et al. 2020, without blur): random-resized crop to <paramref name="size"/> (scale
    /// 0.08–1), flip 0.5, colour jitter 0.8·(0.8, 0.8, 0.8, 0.2) with p 0.8 scaled by <paramref name="strength"/>,
    /// grayscale 0.2, then normalisation.
    /// </summary>
    public static ImageTransformOptions SimClr(int size, float[]? mean = null, float[]? std = null, double strength = 0.5) => new()
    {
        RandomResizedCrop = new RandomResizedCropOptions { Size = size },
        HorizontalFlip = 0.5,
        ColorJitter = new ColorJitterOptions
        {
            Brightness = 0.8 * strength,
            Contrast = 0.8 * strength,
            Saturation = 0.8 * strength,
            Hue = 0.2 * strength,
            P = 0.8,
        },
        Grayscale = 0.2,
        Mean = mean,
        Std = std,
    };

    /// <summary>Throws a <see cref="DataException"/> naming <paramref name="configKey"/> when a setting is out of range.</summary>
    public void Validate(string configKey)
    {
        string k = $"{configKey}.transform";
        Check(Channels is null or 1 or 3, $"{k}.channels must be 1 or 3 (got {Channels}).");
        Check(Resize is null or >= 1, $"{k}.resize must be at least 1 (got {Resize}).");
        Check(CenterCrop is null or >= 1, $"{k}.center_crop must be at least 1 (got {CenterCrop}).");
        if (RandomResizedCrop is { } c)
        {
            Check(c.Size >= 1, $"{k}.random_resized_crop.size must be at least 1 (got {c.Size}).");
            Check(c.ScaleMin > 0 && c.ScaleMin <= c.ScaleMax && c.ScaleMax <= 1,
                $"{k}.random_resized_crop scale must satisfy 0 < min <= max <= 1 (got {c.ScaleMin}..{c.ScaleMax}).");
            Check(c.RatioMin > 0 && c.RatioMin <= c.RatioMax,
                $"{k}.random_resized_crop ratio must satisfy 0 < min <= max (got {c.RatioMin}..{c.RatioMax}).");
        }

        Check(HorizontalFlip is >= 0 and <= 1, $"{k}.horizontal_flip is a probability in [0, 1] (got {HorizontalFlip}).");
        Check(Grayscale is >= 0 and <= 1, $"{k}.grayscale is a probability in [0, 1] (got {Grayscale}).");
        if (ColorJitter is { } j)
        {
            Check(j.Brightness >= 0 && j.Contrast >= 0 && j.Saturation >= 0, $"{k}.color_jitter brightness, contrast and saturation must be >= 0.");
            Check(j.Hue is >= 0 and <= 0.5, $"{k}.color_jitter.hue must be in [0, 0.5] (got {j.Hue}).");
            Check(j.P is >= 0 and <= 1, $"{k}.color_jitter.p is a probability in [0, 1] (got {j.P}).");
        }

        Check((Mean is null) == (Std is null), $"{k}: give both mean and std, or neither.");
        if (Mean is not null && Std is not null)
        {
            Check(Mean.Length >= 1 && Std.Length == Mean.Length, $"{k}: mean and std need the same length, 1 or one per channel (got {Mean.Length} and {Std.Length}).");
            Check(Std.All(s => s > 0), $"{k}.std values must be positive.");
        }
    }

    private static void Check(bool ok, string message)
    {
        if (!ok)
        {
            throw new DataException(message);
        }
    }
}
