namespace Pretrain.Data.Datasets;

/// <summary>
/// One image after decoding and the stream's transform. <see cref="Pixels"/> holds Channels × Height × Width floats,
/// CHW (channel-major, then rows top to bottom, then pixels left to right), normalised when the transform says so;
/// <see cref="SecondView"/> is a second, independently augmented view of the same shape (contrastive learning), or
/// null. <see cref="Label"/> is −1 for unlabelled data.
/// </summary>
public sealed record ImageSample(float[] Pixels, int Channels, int Height, int Width, long Label, float[]? SecondView)
{
    /// <summary>Epoch the sample was drawn in.</summary>
    public int Epoch { get; init; }

    /// <summary>Global position in the epoch's order (the same whatever the world size).</summary>
    public long Position { get; init; }
}
