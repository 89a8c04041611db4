namespace Pretrain.Distributed.Mpi;

/// <summary>
/// MPI counts are C ints: a buffer of more than int.MaxValue elements goes through in pieces of at most
/// <see cref="MaxCount"/> elements each (sequential operations on consecutive slices).
/// </summary>
internal static class Chunks
{
    /// <summary>The largest count per MPI call; PRETRAIN_MPI_MAX_COUNT lowers it so tests run the split path cheaply.</summary>
    public static int MaxCount { get; } =
        int.TryParse(Environment.GetEnvironmentVariable("PRETRAIN_MPI_MAX_COUNT"), out int max) && max > 0 ? max : int.MaxValue;

    /// <summary>(offset, count) slices covering [0, total) in order, each count ≤ <paramref name="max"/>.</summary>
    public static IEnumerable<(long Offset, int Count)> Of(long total, int max)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(total);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(max);
        for (long offset = 0; offset < total; offset += max)
            yield return (offset, (int)Math.Min(max, total - offset));
    }
}
