using Pretrain.Distributed.Mpi;
using Pretrain.Distributed.Nccl;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Distributed;

/// <summary>
/// The "mpi+nccl" backend (Horovod's shape): CUDA tensors go through NCCL on this rank's GPU, CPU tensors and bytes
/// through MPI. NCCL's unique id is made by rank 0 and broadcast over MPI; NCCL waits run under the MPI watchdog, which
/// aborts the NCCL communicator (ncclCommAbort) before MPI_Abort when a rank does not arrive.
/// </summary>
public sealed class MpiNcclCollectives : ICollectives
{
    private readonly MpiCollectives _mpi;
    private readonly NcclCommunicator _nccl;
    private bool _disposed;

    /// <summary>Loads NCCL and the CUDA driver first (a missing library fails before MPI starts), then MPI, then NCCL on cuda:LocalRank (or the device's own index).</summary>
    public MpiNcclCollectives(CollectiveOptions options, RankEnvironment environment)
    {
        var nccl = NcclLibrary.Load();
        int device = CudaIndex(options.Device, environment.LocalRank);
        _mpi = new MpiCollectives(options, environment);
        byte[] id = _mpi.BroadcastBytes(_mpi.Rank == 0 ? NcclCommunicator.NewUniqueId(nccl).ToArray() : []);
        _mpi.Barrier(); // every rank is here (named by the watchdog if not) before the blocking ncclCommInitRank
        _nccl = new NcclCommunicator(nccl, device, _mpi.Rank, _mpi.WorldSize, NcclLibrary.UniqueId.From(id), _mpi.WaitExternal);
        _mpi.SetBeforeAbort(_nccl.Abort);
    }

    public int Rank => _mpi.Rank;
    public int WorldSize => _mpi.WorldSize;
    public int LocalRank => _mpi.LocalRank;
    public string Backend => "mpi+nccl";

    /// <summary>The CUDA device this rank's NCCL communicator uses.</summary>
    public int CudaDevice => _nccl.Device;

    public void AllReduce(Tensor tensor, ReduceOp op = ReduceOp.Sum)
    {
        if (tensor.device_type == DeviceType.CUDA) _nccl.AllReduce(tensor, op);
        else _mpi.AllReduce(tensor, op);
    }

    public void Broadcast(Tensor tensor, int root = 0)
    {
        if (root < 0 || root >= WorldSize) throw new ArgumentOutOfRangeException(nameof(root), root, $"the root must be a rank in [0, {WorldSize})");
        if (tensor.device_type == DeviceType.CUDA) _nccl.Broadcast(tensor, root);
        else _mpi.Broadcast(tensor, root);
    }

    public Tensor AllGather(Tensor tensor) => tensor.device_type == DeviceType.CUDA ? _nccl.AllGather(tensor) : _mpi.AllGather(tensor);

    public void ReduceScatter(Tensor input, Tensor output, ReduceOp op = ReduceOp.Sum)
    {
        if (input.device_type == DeviceType.CUDA) _nccl.ReduceScatter(input, output, op);
        else _mpi.ReduceScatter(input, output, op);
    }

    public void AllGatherInPlace(Tensor buffer)
    {
        if (buffer.device_type == DeviceType.CUDA) _nccl.AllGatherInPlace(buffer);
        else _mpi.AllGatherInPlace(buffer);
    }

    public byte[][] AllGatherBytes(ReadOnlySpan<byte> mine) => _mpi.AllGatherBytes(mine);

    public byte[] BroadcastBytes(ReadOnlySpan<byte> data, int root = 0) => _mpi.BroadcastBytes(data, root);

    public void Barrier() => _mpi.Barrier();

    public void Abort(string reason) => _mpi.Abort(reason);

    /// <summary>A barrier (nothing in flight on any rank), ncclCommDestroy, then MPI's own dispose.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _mpi.Barrier();
        _nccl.Dispose();
        _mpi.Dispose();
    }

    /// <summary>"cuda" → cuda:<paramref name="localRank"/>; "cuda:N" → N; anything else is not a CUDA device.</summary>
    internal static int CudaIndex(string device, int localRank)
    {
        string d = device.Trim().ToLowerInvariant();
        if (d == "cuda") return localRank;
        if (d.StartsWith("cuda:", StringComparison.Ordinal) && int.TryParse(d.AsSpan(5), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int index))
            return index;
        throw new CollectiveException($"the mpi+nccl backend needs a CUDA device (cuda or cuda:N), not '{device}'");
    }
}
