using static TorchSharp.torch;

namespace Pretrain.Training.Optim;

/// <summary>
/// A contiguous run of one flat gradient buffer, cut at parameter boundaries: the unit a data-parallel all-reduce
/// takes (<see cref="AdamW.FlatGradients"/>). <see cref="Gradients"/> is a 1-D view into the buffer, so reducing it
/// in place reduces the parameters' <c>.grad</c> tensors.
/// </summary>
/// <param name="Gradients">1-D view of <see cref="Count"/> elements at <see cref="Offset"/> of the group's buffer.</param>
/// <param name="Offset">First element within the group's flat buffer.</param>
/// <param name="Count">Elements in the bucket.</param>
/// <param name="Bytes">Size in bytes (Count × element size).</param>
/// <param name="Parameters">Names of the parameters whose gradients the bucket holds, in buffer order.</param>
public sealed record GradientBucket(Tensor Gradients, long Offset, long Count, long Bytes, IReadOnlyList<string> Parameters)
{
    /// <summary>Element type of the bucket's buffer.</summary>
    public ScalarType Dtype => Gradients.dtype;

    /// <summary>Device of the bucket's buffer.</summary>
    public Device Device => Gradients.device;
}
