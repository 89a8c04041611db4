using static TorchSharp.torch;

namespace Pretrain.Distributed;

/// <summary>How values from every rank are combined.</summary>
public enum ReduceOp
{
    Sum,
    /// <summary>Sum divided by the world size.</summary>
    Avg,
    Max,
    Min,
}

/// <summary>
/// The ranks of one training job and the collective operations between them (the shape Horovod proved: MPI for
/// ranks, bootstrap and CPU tensors, NCCL for CUDA tensors). Every rank calls the same collectives in the same order;
/// a collective that does not complete within the job's timeout ends the job naming the rank (the backend's
/// watchdog), never a silent hang.
/// <para>Tensors passed in must be contiguous; in-place operations write the result into the caller's tensor.
/// Thread use: one thread (the trainer's) calls collectives; the backend may run its own watchdog thread.</para>
/// </summary>
public interface ICollectives : IDisposable
{
    /// <summary>This process's rank, 0 ≤ Rank &lt; WorldSize.</summary>
    int Rank { get; }

    /// <summary>The number of ranks in the job.</summary>
    int WorldSize { get; }

    /// <summary>This rank's index among the ranks on its machine (its GPU is cuda:LocalRank).</summary>
    int LocalRank { get; }

    /// <summary>"single", "mpi", "mpi+nccl": for logs and run metadata.</summary>
    string Backend { get; }

    /// <summary>Combines <paramref name="tensor"/> over every rank in place; every rank ends with the same values.</summary>
    void AllReduce(Tensor tensor, ReduceOp op = ReduceOp.Sum);

    /// <summary>Overwrites <paramref name="tensor"/> on every rank with <paramref name="root"/>'s values (same shape and dtype everywhere).</summary>
    void Broadcast(Tensor tensor, int root = 0);

    /// <summary>A new tensor of shape [WorldSize, ..tensor.shape] holding every rank's tensor in rank order (same shape everywhere).</summary>
    Tensor AllGather(Tensor tensor);

    /// <summary>Every rank's bytes in rank order; lengths may differ between ranks (cursors, messages).</summary>
    byte[][] AllGatherBytes(ReadOnlySpan<byte> mine);

    /// <summary>Root's bytes on every rank (the others pass anything, e.g. empty).</summary>
    byte[] BroadcastBytes(ReadOnlySpan<byte> data, int root = 0);

    /// <summary>Returns once every rank has called it.</summary>
    void Barrier();

    /// <summary>
    /// ZeRO's gradient collective: <paramref name="input"/> (1-D, WorldSize × n elements) is combined over every rank
    /// and this rank's block, elements [Rank·n, (Rank+1)·n), lands in <paramref name="output"/> (1-D, n elements, not
    /// overlapping the input). The default is an all-reduce of a copy; the backends override it with one
    /// reduce-scatter (MPI_Ireduce_scatter_block, ncclReduceScatter), which moves (W−1)/W of what an all-reduce does.
    /// </summary>
    void ReduceScatter(Tensor input, Tensor output, ReduceOp op = ReduceOp.Sum)
    {
        long n = Shards.CheckReduceScatter(input, output, WorldSize);
        using var all = input.clone();
        AllReduce(all, op);
        using var mine = all.narrow(0, Rank * n, n);
        output.copy_(mine);
    }

    /// <summary>
    /// ZeRO's parameter collective, in place: <paramref name="buffer"/> (1-D, contiguous, WorldSize × n elements)
    /// holds this rank's block at [Rank·n, (Rank+1)·n); afterwards every block holds its owner's values, on every
    /// rank. The default goes through <see cref="AllGather"/>; the backends override it with one in-place all-gather.
    /// </summary>
    void AllGatherInPlace(Tensor buffer)
    {
        long n = Shards.Block(buffer, WorldSize, "all_gather_in_place");
        using var mine = buffer.narrow(0, Rank * n, n);   // 1-D narrow of a contiguous buffer: contiguous
        using var all = AllGather(mine);
        buffer.copy_(all.reshape(buffer.shape));
    }

    /// <summary>
    /// Ends the whole job now because this rank failed (<paramref name="reason"/> is printed as one line first), so the
    /// other ranks do not wait in their next collective until the timeout. With one process it does nothing: the
    /// caller's exception ends the run. Multi-rank backends do not return.
    /// </summary>
    void Abort(string reason) { }
}
