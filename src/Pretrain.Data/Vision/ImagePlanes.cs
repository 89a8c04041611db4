namespace Pretrain.Data.Vision;

/// <summary>
/// A decoded image as float planes: <see cref="Data"/> holds Channels × Height × Width values (CHW, channel-major, rows
/// top to bottom, pixels left to right), 0..1 after decoding (any range after normalisation).
/// </summary>
public sealed class ImagePlanes
{
    public ImagePlanes(float[] data, int channels, int height, int width)
    {
        if (channels < 1 || height < 1 || width < 1 || data.Length != channels * height * width)
        {
            throw new ArgumentException($"image planes {channels}×{height}×{width} do not match {data.Length} values.", nameof(data));
        }

        Data = data;
        Channels = channels;
        Height = height;
        Width = width;
    }

    public float[] Data { get; }

    public int Channels { get; }

    public int Height { get; }

    public int Width { get; }

    /// <summary>Zero-filled planes of the given shape.</summary>
    public static ImagePlanes Zeros(int channels, int height, int width) => new(new float[channels * height * width], channels, height, width);

    /// <summary>Values of channel <paramref name="c"/>.</summary>
    public Span<float> Plane(int c) => Data.AsSpan(c * Height * Width, Height * Width);
}
