using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Distributed.Nccl;

/// <summary>
/// One NCCL communicator on one CUDA device: all-reduce, broadcast and all-gather of CUDA tensors on the default
/// stream. Ordering before a collective is the stream's (libtorch queues its kernels on the same default stream);
/// after it, the caller's wait polls cuStreamQuery until the stream is idle — the synchronisation, under the
/// watchdog's deadline — so the tensor holds the result when the call returns.
/// </summary>
internal sealed unsafe class NcclCommunicator : IDisposable
{
    private readonly NcclLibrary _nccl;
    private readonly IntPtr _context;
    private readonly Action<string, Func<bool>> _wait;
    private IntPtr _comm;

    public int Device { get; }
    public int Rank { get; }
    public int WorldSize { get; }

    /// <param name="wait">Completes one collective: (name, done-poll); the MPI backend's watchdog, or a plain deadline at world size 1.</param>
    public NcclCommunicator(NcclLibrary nccl, int device, int rank, int world, NcclLibrary.UniqueId id, Action<string, Func<bool>> wait)
    {
        (_nccl, _wait, Device, Rank, WorldSize) = (nccl, wait, device, rank, world);
        _context = nccl.UseDevice(device);
        IntPtr comm;
        nccl.Check(nccl.CommInitRank(&comm, world, id, rank), $"ncclCommInitRank (rank {rank} of {world} on cuda:{device})");
        _comm = comm;
    }

    /// <summary>A new unique id (rank 0 creates it; the others receive it over MPI).</summary>
    public static NcclLibrary.UniqueId NewUniqueId(NcclLibrary nccl)
    {
        NcclLibrary.UniqueId id;
        nccl.Check(nccl.GetUniqueId(&id), "ncclGetUniqueId");
        return id;
    }

    public void AllReduce(Tensor tensor, ReduceOp op) => AllReduce(tensor, tensor, op);

    /// <summary>Reduces <paramref name="send"/> into <paramref name="receive"/> (the same tensor for in place).</summary>
    internal void AllReduce(Tensor send, Tensor receive, ReduceOp op)
    {
        const string name = "all_reduce";
        Require(send, name);
        Require(receive, name);
        var (type, ncclOp) = Reduction(send, op, name);
        Run(name, () => _nccl.AllReduce(TensorMemory.Address(send), TensorMemory.Address(receive), (nuint)send.numel(), type, ncclOp, _comm, IntPtr.Zero));
        if (op == ReduceOp.Avg) receive.div_(WorldSize);
    }

    public void Broadcast(Tensor tensor, int root)
    {
        Require(tensor, "broadcast");
        IntPtr data = TensorMemory.Address(tensor);
        Run("broadcast", () => _nccl.Broadcast(data, data, (nuint)(tensor.numel() * tensor.element_size()), 1 /* ncclUint8 */, root, _comm, IntPtr.Zero));
    }

    public Tensor AllGather(Tensor tensor)
    {
        Require(tensor, "all_gather");
        var result = torch.empty([WorldSize, .. tensor.shape], tensor.dtype, tensor.device);
        AllGather(tensor, result);
        return result;
    }

    /// <summary>Gathers into <paramref name="receive"/> ([W, ..shape], contiguous, same device).</summary>
    internal void AllGather(Tensor send, Tensor receive)
    {
        Require(receive, "all_gather");
        if (receive.numel() != send.numel() * WorldSize || receive.dtype != send.dtype)
            throw new CollectiveException($"all_gather: the result needs {WorldSize} × {send.numel()} elements of {send.dtype}");
        Run("all_gather", () => _nccl.AllGather(TensorMemory.Address(send), TensorMemory.Address(receive), (nuint)(send.numel() * send.element_size()), 1 /* ncclUint8 */, _comm, IntPtr.Zero));
    }

    /// <summary>ncclReduceScatter: <paramref name="input"/> (W × n) combined, this rank's block into <paramref name="output"/> (n). Untested on a GPU (docs/distributed.md "ZeRO-1").</summary>
    public void ReduceScatter(Tensor input, Tensor output, ReduceOp op)
    {
        const string name = "reduce_scatter";
        Require(input, name);
        Require(output, name);
        long n = Shards.CheckReduceScatter(input, output, WorldSize);
        var (type, ncclOp) = Reduction(input, op, name);
        Run(name, () => _nccl.ReduceScatter(TensorMemory.Address(input), TensorMemory.Address(output), (nuint)n, type, ncclOp, _comm, IntPtr.Zero));
        if (op == ReduceOp.Avg) output.div_(WorldSize);
    }

    /// <summary>ncclAllGather in place (send = this rank's block of the receive buffer, as NCCL documents). Untested on a GPU.</summary>
    public void AllGatherInPlace(Tensor buffer)
    {
        const string name = "all_gather_in_place";
        Require(buffer, name);
        long bytes = Shards.Block(buffer, WorldSize, name) * buffer.element_size();
        IntPtr receive = TensorMemory.Address(buffer);
        Run(name, () => _nccl.AllGather(receive + (nint)(Rank * bytes), receive, (nuint)bytes, 1 /* ncclUint8 */, _comm, IntPtr.Zero));
    }

    /// <summary>The NCCL datatype and operation of a reduction of <paramref name="tensor"/>.</summary>
    private static (int Type, int Op) Reduction(Tensor tensor, ReduceOp op, string name)
    {
        int type = tensor.dtype switch
        {
            ScalarType.Float32 => NcclLibrary.Float32,
            ScalarType.Float64 => NcclLibrary.Float64,
            ScalarType.BFloat16 => NcclLibrary.BFloat16,
            ScalarType.Float16 => NcclLibrary.Float16,
            ScalarType.Int64 => NcclLibrary.Int64,
            ScalarType.Int32 => NcclLibrary.Int32,
            _ => throw new CollectiveException($"{name}: dtype {tensor.dtype} is not supported on CUDA (float32, float64, bfloat16, float16, int64, int32)"),
        };
        if (op == ReduceOp.Avg && !torch.is_floating_point(tensor))
            throw new CollectiveException($"{name}: the average of {tensor.dtype} values is not an integer; reduce with Sum and divide, or use a floating-point tensor");
        int ncclOp = op switch { ReduceOp.Sum or ReduceOp.Avg => NcclLibrary.OpSum, ReduceOp.Max => NcclLibrary.OpMax, ReduceOp.Min => NcclLibrary.OpMin, _ => throw new ArgumentOutOfRangeException(nameof(op)) };
        return (type, ncclOp);
    }

    /// <summary>ncclCommAbort: ends any collective in flight (the watchdog calls it before MPI_Abort).</summary>
    public void Abort()
    {
        if (_comm == IntPtr.Zero) return;
        _nccl.CommAbort(_comm);
        _comm = IntPtr.Zero;
    }

    public void Dispose()
    {
        if (_comm == IntPtr.Zero) return;
        _nccl.SetCurrent(_context);
        _nccl.Check(_nccl.CommDestroy(_comm), "ncclCommDestroy");
        _comm = IntPtr.Zero;
    }

    private void Run(string name, Func<int> enqueue)
    {
        ObjectDisposedException.ThrowIf(_comm == IntPtr.Zero, this);
        _nccl.SetCurrent(_context);
        _nccl.Check(enqueue(), $"nccl {name}");
        _wait(name, Done);
    }

    private bool Done()
    {
        int state;
        _nccl.Check(_nccl.CommGetAsyncError(_comm, &state), "ncclCommGetAsyncError");
        if (state != NcclLibrary.Success && state != NcclLibrary.InProgress) _nccl.Check(state, "an NCCL collective (asynchronous error)");
        return _nccl.DefaultStreamIdle();
    }

    private void Require(Tensor tensor, string collective)
    {
        if (tensor.device_type != DeviceType.CUDA || tensor.device_index != Device)
            throw new CollectiveException($"{collective}: NCCL on this rank takes tensors on cuda:{Device}; this one is on {tensor.device}");
        TensorMemory.RequireContiguous(tensor, collective);
    }
}
