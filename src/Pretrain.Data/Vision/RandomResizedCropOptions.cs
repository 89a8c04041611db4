namespace Pretrain.Data.Vision;

/// <summary>
/// torchvision's RandomResizedCrop: a crop covering a random fraction [ScaleMin, ScaleMax] of the area with a
/// log-uniform aspect ratio in [RatioMin, RatioMax] (10 tries, then a centred crop), resized to Size × Size (bilinear).
/// </summary>
public sealed record RandomResizedCropOptions
{
    public required int Size { get; init; }

    public double ScaleMin { get; init; } = 0.08;

    public double ScaleMax { get; init; } = 1.0;

    public double RatioMin { get; init; } = 3.0 / 4.0;

    public double RatioMax { get; init; } = 4.0 / 3.0;
}
