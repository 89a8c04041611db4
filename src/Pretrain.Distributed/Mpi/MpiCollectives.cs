using System.Buffers.Binary;
using System.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Distributed.Mpi;

/// <summary>
/// Collectives over MPI (Open MPI 4.x through our own P/Invoke, <see cref="MpiLibrary"/>) for CPU tensors and bytes.
/// Every operation is nonblocking MPI completed under <see cref="MpiWatchdog"/>, so a rank that does not arrive ends
/// the job within the timeout, named. One instance per process: MPI is initialised in the constructor and finalised
/// by <see cref="Dispose"/> (MPI cannot be initialised twice in a process).
/// </summary>
public sealed unsafe class MpiCollectives : ICollectives
{
    private static int _initialised; // process-wide: MPI_Init_thread once, MPI_Finalize once

    private readonly MpiLibrary _mpi;
    private readonly Lock _lock = new(); // MPI_THREAD_SERIALIZED: one MPI call at a time
    private readonly MpiWatchdog _watchdog;
    // Private duplicates of MPI_COMM_WORLD: the collectives', the watchdog's, and one for the barrier before
    // MPI_Finalize, which then can never be matched with a data collective another rank is still in.
    private IntPtr _comm, _watchComm, _endComm;
    private long _sequence;
    private bool _disposed;

    public int Rank { get; }
    public int WorldSize { get; }
    public int LocalRank { get; }
    public string Backend => "mpi";

    /// <summary>Initialises MPI (MPI_Init_thread at MPI_THREAD_SERIALIZED, errors returned, not fatal) for this process.</summary>
    public MpiCollectives(CollectiveOptions options, RankEnvironment environment)
    {
        options.Validate();
        if (Interlocked.Exchange(ref _initialised, 1) != 0)
            throw new InvalidOperationException("MPI is initialised once per process: create the collectives once and share them");
        _mpi = MpiLibrary.Load();
        int provided = 0;
        _mpi.Check(_mpi.Init_thread(null, null, MpiLibrary.ThreadSerialized, &provided), "MPI_Init_thread");
        if (provided < MpiLibrary.ThreadSerialized)
            throw new CollectiveException($"this MPI provides thread level {provided}; the MPI backend needs MPI_THREAD_SERIALIZED (2)");
        _mpi.Check(_mpi.Comm_set_errhandler(_mpi.CommWorld, _mpi.ErrorsReturn), "MPI_Comm_set_errhandler");
        IntPtr comm, watchComm, endComm;
        _mpi.Check(_mpi.Comm_dup(_mpi.CommWorld, &comm), "MPI_Comm_dup");
        _mpi.Check(_mpi.Comm_dup(_mpi.CommWorld, &watchComm), "MPI_Comm_dup");
        _mpi.Check(_mpi.Comm_dup(_mpi.CommWorld, &endComm), "MPI_Comm_dup");
        (_comm, _watchComm, _endComm) = (comm, watchComm, endComm);
        foreach (IntPtr c in new[] { comm, watchComm, endComm })
            _mpi.Check(_mpi.Comm_set_errhandler(c, _mpi.ErrorsReturn), "MPI_Comm_set_errhandler");
        int rank, size;
        _mpi.Check(_mpi.Comm_rank(_comm, &rank), "MPI_Comm_rank");
        _mpi.Check(_mpi.Comm_size(_comm, &size), "MPI_Comm_size");
        if (environment.WorldSize != size || environment.Rank != rank)
            throw new CollectiveException($"MPI says rank {rank} of {size} but the launcher's environment ({environment.Source}) says rank {environment.Rank} of {environment.WorldSize}: start the job with Open MPI's mpirun, or srun --mpi=pmix");
        (Rank, WorldSize, LocalRank) = (rank, size, environment.LocalRank);
        _watchdog = new MpiWatchdog(_mpi, _watchComm, rank, size, options.Timeout);
        _watchdog.SetLocations(AllGatherBytes(Encoding.UTF8.GetBytes($"pid {Environment.ProcessId} on host {Environment.MachineName}"))
            .Select(b => Encoding.UTF8.GetString(b)).ToArray());
    }

    public void AllReduce(Tensor tensor, ReduceOp op = ReduceOp.Sum)
    {
        const string name = "all_reduce";
        RequireCpu(tensor, name);
        if (tensor.dtype is ScalarType.BFloat16 or ScalarType.Float16)
        {
            // MPI has no 16-bit float type: reduce a float32 copy (exact sums of 16-bit values), round back once.
            using var wide = tensor.to_type(ScalarType.Float32);
            AllReduce(wide, op);
            tensor.copy_(wide);
            return;
        }
        var (type, mpiOp) = Reduction(tensor, op, name);
        long elementSize = tensor.element_size();
        lock (_lock)
        {
            var (sequence, deadline) = Begin();
            IntPtr data = TensorMemory.Address(tensor);
            foreach (var (offset, count) in Chunks.Of(tensor.numel(), Chunks.MaxCount))
            {
                IntPtr request;
                _mpi.Check(_mpi.Iallreduce(MpiLibrary.InPlace, data + (nint)(offset * elementSize), count, type, mpiOp, _comm, &request), "MPI_Iallreduce");
                _watchdog.Wait(&request, name, sequence, deadline);
            }
        }
        if (op == ReduceOp.Avg) tensor.div_(WorldSize);
    }

    public void Broadcast(Tensor tensor, int root = 0)
    {
        RequireCpu(tensor, "broadcast");
        CheckRoot(root);
        lock (_lock)
        {
            var (sequence, deadline) = Begin();
            BroadcastRaw(TensorMemory.Address(tensor), tensor.numel() * tensor.element_size(), root, "broadcast", sequence, deadline);
        }
    }

    public Tensor AllGather(Tensor tensor)
    {
        const string name = "all_gather";
        RequireCpu(tensor, name);
        long bytes = tensor.numel() * tensor.element_size();
        var result = torch.empty([WorldSize, .. tensor.shape], tensor.dtype);
        lock (_lock)
        {
            var (sequence, deadline) = Begin();
            byte* send = (byte*)TensorMemory.Address(tensor), receive = (byte*)TensorMemory.Address(result);
            if (bytes <= Chunks.MaxCount)
            {
                AllGatherRaw(send, (int)bytes, receive, name, sequence, deadline);
                return result;
            }
            // More than MaxCount bytes per rank: gather slice by slice through a staging buffer, then place each
            // rank's slice at its offset in the result (W copies of one slice, cheap next to the transfer).
            int slice = Chunks.MaxCount / WorldSize;
            byte* staging = (byte*)System.Runtime.InteropServices.NativeMemory.Alloc((nuint)slice * (nuint)WorldSize);
            try
            {
                foreach (var (offset, count) in Chunks.Of(bytes, slice))
                {
                    AllGatherRaw(send + offset, count, staging, name, sequence, deadline);
                    for (int r = 0; r < WorldSize; r++)
                        Buffer.MemoryCopy(staging + (long)r * count, receive + r * bytes + offset, count, count);
                }
            }
            finally
            {
                System.Runtime.InteropServices.NativeMemory.Free(staging);
            }
        }
        return result;
    }

    /// <summary>
    /// One MPI_Ireduce_scatter_block (ZeRO-1's gradients). 16-bit floats go through a float32 copy as in
    /// <see cref="AllReduce"/>; a block over <see cref="Chunks.MaxCount"/> elements goes slice by slice, each slice's
    /// W pieces first copied together (MPI counts are C ints).
    /// </summary>
    public void ReduceScatter(Tensor input, Tensor output, ReduceOp op = ReduceOp.Sum)
    {
        const string name = "reduce_scatter";
        RequireCpu(input, name);
        RequireCpu(output, name);
        long n = Shards.CheckReduceScatter(input, output, WorldSize);
        if (input.dtype is ScalarType.BFloat16 or ScalarType.Float16)
        {
            using var wideIn = input.to_type(ScalarType.Float32);
            using var wideOut = torch.empty(n, ScalarType.Float32);
            ReduceScatter(wideIn, wideOut, op);
            output.copy_(wideOut);
            return;
        }
        var (type, mpiOp) = Reduction(input, op, name);
        lock (_lock)
        {
            var (sequence, deadline) = Begin();
            foreach (var (offset, count) in Chunks.Of(n, Chunks.MaxCount))
            {
                using var pieces = count == n ? null : input.view(WorldSize, n).narrow(1, offset, count).contiguous();   // (W, count)
                using var into = output.narrow(0, offset, count);
                IntPtr request;
                _mpi.Check(_mpi.Ireduce_scatter_block(TensorMemory.Address(pieces ?? input), TensorMemory.Address(into), count, type, mpiOp, _comm, &request), "MPI_Ireduce_scatter_block");
                _watchdog.Wait(&request, name, sequence, deadline);
            }
        }
        if (op == ReduceOp.Avg) output.div_(WorldSize);
    }

    /// <summary>
    /// One MPI_Iallgather with MPI_IN_PLACE (ZeRO-1's parameters), counted in 8-, 4- or 1-byte units by the element
    /// size; a block over <see cref="Chunks.MaxCount"/> units goes slice by slice through a (W, slice) staging tensor.
    /// </summary>
    public void AllGatherInPlace(Tensor buffer)
    {
        const string name = "all_gather_in_place";
        RequireCpu(buffer, name);
        long n = Shards.Block(buffer, WorldSize, name);
        long elementSize = buffer.element_size();
        var (type, unit) = elementSize switch { 8 => (_mpi.Int64, 8L), 4 => (_mpi.Int32, 4L), _ => (_mpi.Byte, 1L) };   // bits moved, not converted
        long units = n * elementSize / unit;
        lock (_lock)
        {
            var (sequence, deadline) = Begin();
            if (units <= Chunks.MaxCount)
            {
                IntPtr request;
                _mpi.Check(_mpi.Iallgather(MpiLibrary.InPlace, 0, _mpi.Byte, TensorMemory.Address(buffer), (int)units, type, _comm, &request), "MPI_Iallgather");
                _watchdog.Wait(&request, name, sequence, deadline);
                return;
            }
            using var blocks = buffer.view(WorldSize, n);
            foreach (var (offset, count) in Chunks.Of(n, (int)Math.Max(1, Chunks.MaxCount * unit / elementSize)))
            {
                using var staging = torch.empty([WorldSize, count], buffer.dtype);
                using (var mine = buffer.narrow(0, Rank * n + offset, count))
                using (var row = staging[Rank]) row.copy_(mine);
                IntPtr request;
                _mpi.Check(_mpi.Iallgather(MpiLibrary.InPlace, 0, _mpi.Byte, TensorMemory.Address(staging), (int)(count * elementSize / unit), type, _comm, &request), "MPI_Iallgather");
                _watchdog.Wait(&request, name, sequence, deadline);
                using var slice = blocks.narrow(1, offset, count);
                slice.copy_(staging);
            }
        }
    }

    /// <summary>The MPI datatype and operation of a float32/64 or int32/64 reduction.</summary>
    private (IntPtr Type, IntPtr Op) Reduction(Tensor tensor, ReduceOp op, string name)
    {
        IntPtr type = tensor.dtype switch
        {
            ScalarType.Float32 => _mpi.Float,
            ScalarType.Float64 => _mpi.Double,
            ScalarType.Int64 => _mpi.Int64,
            ScalarType.Int32 => _mpi.Int32,
            _ => throw new CollectiveException($"{name}: dtype {tensor.dtype} is not supported (float32, float64, bfloat16, float16, int64, int32)"),
        };
        if (op == ReduceOp.Avg && !torch.is_floating_point(tensor))
            throw new CollectiveException($"{name}: the average of {tensor.dtype} values is not an integer; reduce with Sum and divide, or use a floating-point tensor");
        IntPtr mpiOp = op switch { ReduceOp.Sum or ReduceOp.Avg => _mpi.OpSum, ReduceOp.Max => _mpi.OpMax, ReduceOp.Min => _mpi.OpMin, _ => throw new ArgumentOutOfRangeException(nameof(op)) };
        return (type, mpiOp);
    }

    public byte[][] AllGatherBytes(ReadOnlySpan<byte> mine)
    {
        const string name = "all_gather_bytes";
        lock (_lock)
        {
            var (sequence, deadline) = Begin();
            var lengths = new int[WorldSize];
            int myLength = mine.Length;
            fixed (int* lengthsPtr = lengths)
                AllGatherRaw((byte*)&myLength, sizeof(int), (byte*)lengthsPtr, name, sequence, deadline);
            long total = lengths.Sum(l => (long)l);
            if (total > int.MaxValue) // MPI_Allgatherv's displacements are C ints
                throw new CollectiveException($"{name}: {total} bytes from all ranks together exceed one MPI_Allgatherv ({int.MaxValue}); send less, or gather tensors");
            var displacements = new int[WorldSize];
            for (int r = 1; r < WorldSize; r++) displacements[r] = displacements[r - 1] + lengths[r - 1];
            var all = new byte[total];
            fixed (byte* send = mine)
            fixed (byte* receive = all)
            fixed (int* counts = lengths)
            fixed (int* displs = displacements)
            {
                IntPtr request;
                _mpi.Check(_mpi.Iallgatherv((IntPtr)send, myLength, _mpi.Byte, (IntPtr)receive, counts, displs, _mpi.Byte, _comm, &request), "MPI_Iallgatherv");
                _watchdog.Wait(&request, name, sequence, deadline);
            }
            return Enumerable.Range(0, WorldSize).Select(r => all.AsSpan(displacements[r], lengths[r]).ToArray()).ToArray();
        }
    }

    public byte[] BroadcastBytes(ReadOnlySpan<byte> data, int root = 0)
    {
        const string name = "broadcast_bytes";
        CheckRoot(root);
        lock (_lock)
        {
            var (sequence, deadline) = Begin();
            long length = Rank == root ? data.Length : 0;
            BroadcastRaw((IntPtr)(&length), sizeof(long), root, name, sequence, deadline);
            byte[] result = Rank == root ? data.ToArray() : new byte[length];
            fixed (byte* buffer = result)
                BroadcastRaw((IntPtr)buffer, length, root, name, sequence, deadline);
            return result;
        }
    }

    public void Barrier()
    {
        lock (_lock)
        {
            var (sequence, deadline) = Begin();
            IntPtr request;
            _mpi.Check(_mpi.Ibarrier(_comm, &request), "MPI_Ibarrier");
            _watchdog.Wait(&request, "barrier", sequence, deadline);
        }
    }

    /// <summary>A barrier (so a missing rank is named, not waited for forever), then MPI_Finalize once per process.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
        }
        IntPtr request;
        _mpi.Check(_mpi.Ibarrier(_endComm, &request), "MPI_Ibarrier");
        _watchdog.Wait(&request, "finalize", ++_sequence, _watchdog.DeadlineFromNow());
        _watchdog.Dispose();
        fixed (IntPtr* watchComm = &_watchComm) _mpi.Comm_free(watchComm);
        fixed (IntPtr* endComm = &_endComm) _mpi.Comm_free(endComm);
        fixed (IntPtr* comm = &_comm) _mpi.Comm_free(comm);
        _mpi.Check(_mpi.Finalize(), "MPI_Finalize");
    }

    /// <summary>Prints "rank R ends the job: REASON", aborts NCCL if in use, then MPI_Abort: mpirun ends every rank non-zero.</summary>
    public void Abort(string reason)
    {
        Console.Out.Flush();
        Console.Error.WriteLine($"rank {Rank} ends the job: {reason.ReplaceLineEndings(" ")}");
        Console.Error.Flush();
        _watchdog.AbortJob();
    }

    /// <summary>Runs a wait outside MPI (an NCCL collective) as one collective of this job: its sequence number, deadline and watchdog.</summary>
    internal void WaitExternal(string name, Func<bool> done)
    {
        lock (_lock)
        {
            var (sequence, deadline) = Begin();
            _watchdog.WaitFor(done, name, sequence, deadline);
        }
    }

    /// <summary>Called by the watchdog just before MPI_Abort (ncclCommAbort).</summary>
    internal void SetBeforeAbort(Action action) => _watchdog.BeforeAbort = action;

    private (long Sequence, long Deadline) Begin()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return (++_sequence, _watchdog.DeadlineFromNow());
    }

    private void BroadcastRaw(IntPtr data, long bytes, int root, string name, long sequence, long deadline)
    {
        foreach (var (offset, count) in Chunks.Of(bytes, Chunks.MaxCount))
        {
            IntPtr request;
            _mpi.Check(_mpi.Ibcast(data + (nint)offset, count, _mpi.Byte, root, _comm, &request), "MPI_Ibcast");
            _watchdog.Wait(&request, name, sequence, deadline);
        }
    }

    private void AllGatherRaw(byte* send, int bytes, byte* receive, string name, long sequence, long deadline)
    {
        IntPtr request;
        _mpi.Check(_mpi.Iallgather((IntPtr)send, bytes, _mpi.Byte, (IntPtr)receive, bytes, _mpi.Byte, _comm, &request), "MPI_Iallgather");
        _watchdog.Wait(&request, name, sequence, deadline);
    }

    private static void RequireCpu(Tensor tensor, string collective)
    {
        if (tensor.device_type != DeviceType.CPU)
            throw new CollectiveException($"{collective}: the MPI backend takes CPU tensors; this one is on {tensor.device} (a CUDA device uses the mpi+nccl backend: set the device in CollectiveOptions)");
        TensorMemory.RequireContiguous(tensor, collective);
    }

    private void CheckRoot(int root)
    {
        if (root < 0 || root >= WorldSize) throw new ArgumentOutOfRangeException(nameof(root), root, $"the root must be a rank in [0, {WorldSize})");
    }
}
