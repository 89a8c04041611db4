using static TorchSharp.torch;

namespace Pretrain.Distributed;

/// <summary>
/// ZeRO-1's split of a flat buffer over the ranks (docs/distributed.md "ZeRO-1"): the buffer is padded to a multiple
/// of the world size and cut into equal contiguous blocks, rank r owning [r·n, (r+1)·n). Deterministic from the
/// length and the world size alone; every rank's block differs from the others' by at most W−1 real elements
/// (the padding sits in the last blocks), and equal blocks are what MPI_Reduce_scatter_block, ncclReduceScatter
/// and ncclAllGather take.
/// </summary>
public static class Shards
{
    /// <summary>The smallest multiple of <paramref name="world"/> that holds <paramref name="length"/> elements.</summary>
    public static long PaddedLength(long length, int world)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(world);
        return (length + world - 1) / world * world;
    }

    /// <summary>The block n of a 1-D, contiguous tensor of <paramref name="world"/> × n elements; throws naming <paramref name="collective"/>.</summary>
    public static long Block(Tensor tensor, int world, string collective)
    {
        if (tensor.dim() != 1 || !tensor.is_contiguous() || tensor.numel() % world != 0)
            throw new CollectiveException($"{collective}: the tensor must be 1-D and contiguous with a multiple of the world size ({world}) elements; " +
                $"shape [{string.Join(", ", tensor.shape)}]");
        return tensor.numel() / world;
    }

    /// <summary>Checks a reduce-scatter's shapes (input W × n, output n, same dtype and device); returns n.</summary>
    public static long CheckReduceScatter(Tensor input, Tensor output, int world)
    {
        long n = Block(input, world, "reduce_scatter");
        if (output.dim() != 1 || !output.is_contiguous() || output.numel() != n || output.dtype != input.dtype
            || output.device_type != input.device_type || output.device_index != input.device_index)
            throw new CollectiveException($"reduce_scatter: the output must be 1-D and contiguous with {n} elements of {input.dtype} on {input.device} " +
                $"(the input's 1/{world}), not [{string.Join(", ", output.shape)}] of {output.dtype} on {output.device}");
        return n;
    }
}
