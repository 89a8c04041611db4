using System.Runtime.InteropServices;

namespace Pretrain.Distributed.Nccl;

/// <summary>
/// NVIDIA's NCCL (libnccl.so.2), loaded at run time, and the CUDA driver (libcuda.so.1) calls the backend needs:
/// choosing the device (its primary context, which libtorch also uses) and asking whether the default stream is idle.
/// The driver API is used rather than libcudart because the runtime's file name changes with each CUDA major version
/// and PyTorch ships its own copy; every CUDA machine has the driver.
/// </summary>
internal sealed unsafe class NcclLibrary
{
    public const string LibraryVariable = "PRETRAIN_NCCL_LIBRARY";
    public const string DefaultLibrary = "libnccl.so.2";
    public const int UniqueIdBytes = 128;

    // ncclResult_t, ncclDataType_t and ncclRedOp_t values from nccl.h (stable since NCCL 2.0; bfloat16 since 2.10).
    public const int Success = 0, InProgress = 7;
    public const int Int32 = 2, Int64 = 4, Float16 = 6, Float32 = 7, Float64 = 8, BFloat16 = 9;
    public const int OpSum = 0, OpMax = 2, OpMin = 3;
    private const int CudaSuccess = 0, CudaNotReady = 600;

    public readonly delegate* unmanaged<int*, int> GetVersion;
    public readonly delegate* unmanaged<UniqueId*, int> GetUniqueId;
    public readonly delegate* unmanaged<IntPtr*, int, UniqueId, int, int> CommInitRank;
    public readonly delegate* unmanaged<IntPtr, IntPtr, nuint, int, int, IntPtr, IntPtr, int> AllReduce;
    public readonly delegate* unmanaged<IntPtr, IntPtr, nuint, int, int, IntPtr, IntPtr, int> Broadcast;
    public readonly delegate* unmanaged<IntPtr, IntPtr, nuint, int, IntPtr, IntPtr, int> AllGather;
    public readonly delegate* unmanaged<IntPtr, IntPtr, nuint, int, int, IntPtr, IntPtr, int> ReduceScatter;
    public readonly delegate* unmanaged<IntPtr, int*, int> CommGetAsyncError;
    public readonly delegate* unmanaged<IntPtr, int> CommAbort;
    public readonly delegate* unmanaged<IntPtr, int> CommDestroy;
    private readonly delegate* unmanaged<int, IntPtr> _getErrorString;

    private readonly delegate* unmanaged<uint, int> _cuInit;
    private readonly delegate* unmanaged<int*, int, int> _cuDeviceGet;
    private readonly delegate* unmanaged<IntPtr*, int, int> _cuDevicePrimaryCtxRetain;
    private readonly delegate* unmanaged<IntPtr, int> _cuCtxSetCurrent;
    private readonly delegate* unmanaged<IntPtr, int> _cuStreamQuery;
    private readonly delegate* unmanaged<int, IntPtr*, int> _cuGetErrorString;

    /// <summary>ncclUniqueId: 128 opaque bytes, passed by value to ncclCommInitRank.</summary>
    [StructLayout(LayoutKind.Sequential, Size = UniqueIdBytes)]
    public struct UniqueId
    {
        private fixed byte _bytes[UniqueIdBytes];

        public static UniqueId From(ReadOnlySpan<byte> bytes)
        {
            if (bytes.Length != UniqueIdBytes) throw new CollectiveException($"an NCCL unique id has {UniqueIdBytes} bytes, not {bytes.Length}");
            UniqueId id = default;
            bytes.CopyTo(new Span<byte>(id._bytes, UniqueIdBytes));
            return id;
        }

        public readonly byte[] ToArray()
        {
            fixed (byte* b = _bytes) return new ReadOnlySpan<byte>(b, UniqueIdBytes).ToArray();
        }
    }

    private static readonly Lock LoadLock = new();
    private static NcclLibrary? _loaded;

    public static string LibraryName =>
        Environment.GetEnvironmentVariable(LibraryVariable) is { Length: > 0 } name ? name : DefaultLibrary;

    /// <summary>Loads NCCL and the CUDA driver once per process; a missing library is one error saying what to install.</summary>
    public static NcclLibrary Load()
    {
        lock (LoadLock) return _loaded ??= new NcclLibrary(LibraryName);
    }

    /// <summary>Loads <paramref name="name"/> without caching it (tests of the missing-library error).</summary>
    internal static NcclLibrary LoadUncached(string name) => new(name);

    private NcclLibrary(string name)
    {
        if (!NativeLibrary.TryLoad(name, out IntPtr lib))
            throw new CollectiveException($"the mpi+nccl backend needs NVIDIA's NCCL ({name}) for CUDA tensors and it cannot be loaded: install NCCL " +
                "(Debian/Ubuntu: libnccl2; with a pip PyTorch, put its nvidia/nccl/lib folder on LD_LIBRARY_PATH), or train on the cpu device");
        if (!NativeLibrary.TryLoad("libcuda.so.1", out IntPtr cuda))
            throw new CollectiveException("the mpi+nccl backend needs the NVIDIA driver's libcuda.so.1 and it cannot be loaded: this machine has no CUDA driver; train on the cpu device");
        IntPtr F(IntPtr library, string file, string symbol) => NativeLibrary.TryGetExport(library, symbol, out IntPtr p) ? p
            : throw new CollectiveException($"{file} has no symbol {symbol}: NCCL 2.10 or newer and a CUDA driver are needed");

        GetVersion = (delegate* unmanaged<int*, int>)F(lib, name, "ncclGetVersion");
        GetUniqueId = (delegate* unmanaged<UniqueId*, int>)F(lib, name, "ncclGetUniqueId");
        CommInitRank = (delegate* unmanaged<IntPtr*, int, UniqueId, int, int>)F(lib, name, "ncclCommInitRank");
        AllReduce = (delegate* unmanaged<IntPtr, IntPtr, nuint, int, int, IntPtr, IntPtr, int>)F(lib, name, "ncclAllReduce");
        Broadcast = (delegate* unmanaged<IntPtr, IntPtr, nuint, int, int, IntPtr, IntPtr, int>)F(lib, name, "ncclBroadcast");
        AllGather = (delegate* unmanaged<IntPtr, IntPtr, nuint, int, IntPtr, IntPtr, int>)F(lib, name, "ncclAllGather");
        ReduceScatter = (delegate* unmanaged<IntPtr, IntPtr, nuint, int, int, IntPtr, IntPtr, int>)F(lib, name, "ncclReduceScatter");
        CommGetAsyncError = (delegate* unmanaged<IntPtr, int*, int>)F(lib, name, "ncclCommGetAsyncError");
        CommAbort = (delegate* unmanaged<IntPtr, int>)F(lib, name, "ncclCommAbort");
        CommDestroy = (delegate* unmanaged<IntPtr, int>)F(lib, name, "ncclCommDestroy");
        _getErrorString = (delegate* unmanaged<int, IntPtr>)F(lib, name, "ncclGetErrorString");

        _cuInit = (delegate* unmanaged<uint, int>)F(cuda, "libcuda.so.1", "cuInit");
        _cuDeviceGet = (delegate* unmanaged<int*, int, int>)F(cuda, "libcuda.so.1", "cuDeviceGet");
        _cuDevicePrimaryCtxRetain = (delegate* unmanaged<IntPtr*, int, int>)F(cuda, "libcuda.so.1", "cuDevicePrimaryCtxRetain");
        _cuCtxSetCurrent = (delegate* unmanaged<IntPtr, int>)F(cuda, "libcuda.so.1", "cuCtxSetCurrent");
        _cuStreamQuery = (delegate* unmanaged<IntPtr, int>)F(cuda, "libcuda.so.1", "cuStreamQuery");
        _cuGetErrorString = (delegate* unmanaged<int, IntPtr*, int>)F(cuda, "libcuda.so.1", "cuGetErrorString");
    }

    /// <summary>NCCL's version as a number (e.g. 22703 for 2.27.3).</summary>
    public int Version
    {
        get
        {
            int version = 0;
            Check(GetVersion(&version), "ncclGetVersion");
            return version;
        }
    }

    public void Check(int result, string call)
    {
        if (result != Success)
            throw new CollectiveException($"{call} failed: {Marshal.PtrToStringUTF8(_getErrorString(result)) ?? "unknown error"} (NCCL error {result})");
    }

    /// <summary>Makes <paramref name="device"/>'s primary context (the one libtorch uses) current on this thread.</summary>
    public IntPtr UseDevice(int device)
    {
        CheckCuda(_cuInit(0), "cuInit");
        int handle;
        CheckCuda(_cuDeviceGet(&handle, device), $"cuDeviceGet({device})");
        IntPtr context;
        CheckCuda(_cuDevicePrimaryCtxRetain(&context, handle), "cuDevicePrimaryCtxRetain");
        CheckCuda(_cuCtxSetCurrent(context), "cuCtxSetCurrent");
        return context;
    }

    public void SetCurrent(IntPtr context) => CheckCuda(_cuCtxSetCurrent(context), "cuCtxSetCurrent");

    /// <summary>True when all work queued on the default stream (libtorch's and NCCL's) has finished.</summary>
    public bool DefaultStreamIdle()
    {
        int result = _cuStreamQuery(IntPtr.Zero);
        if (result == CudaNotReady) return false;
        CheckCuda(result, "cuStreamQuery");
        return true;
    }

    private void CheckCuda(int result, string call)
    {
        if (result == CudaSuccess) return;
        IntPtr text = IntPtr.Zero;
        _cuGetErrorString(result, &text);
        throw new CollectiveException($"{call} failed: {(text == IntPtr.Zero ? "unknown error" : Marshal.PtrToStringUTF8(text))} (CUDA error {result})");
    }
}
