namespace Pretrain.Data.Vision;

/// <summary>
/// torchvision's ColorJitter, applied with probability <see cref="P"/> (SimCLR: 0.8): factors drawn uniformly from
/// [max(0, 1 − x), 1 + x] for brightness, contrast and saturation, a hue shift from [−Hue, Hue] (a fraction of the
/// colour wheel, at most 0.5), the four applied in a random order. Saturation and hue do nothing on one channel.
/// </summary>
public sealed record ColorJitterOptions
{
    public double Brightness { get; init; }

    public double Contrast { get; init; }

    public double Saturation { get; init; }

    public double Hue { get; init; }

    /// <summary>Probability that the jitter is applied to a view at all.</summary>
    public double P { get; init; } = 1.0;
}
