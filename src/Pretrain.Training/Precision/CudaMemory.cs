using System.Runtime.InteropServices;

namespace Pretrain.Training.Precision;

/// <summary>
/// CUDA memory in use on the current device, as the driver sees it (<c>cuMemGetInfo</c>: total − free): the
/// caching allocator's reserve plus the CUDA context, i.e. what nvidia-smi shows for a lone process. TorchSharp
/// 0.107 exposes none of torch.cuda's memory statistics, and libtorch's own (<c>CUDACachingAllocator</c>'s
/// DeviceStats) are reachable only through a C++ virtual call, so this reads the driver's C API instead. The
/// caching allocator keeps what it reserved, so a reading after a step is the run's peak reserve so far. Null when
/// no CUDA driver is loaded or the calling thread has no current context (a thread that has not run a CUDA op).
/// </summary>
public static class CudaMemory
{
    [DllImport("libcuda.so.1", EntryPoint = "cuMemGetInfo_v2")]
    private static extern int MemGetInfo(out nuint free, out nuint total);

    /// <summary>Bytes in use on the calling thread's current CUDA device, or null (no driver, no context).</summary>
    public static long? DeviceUsedBytes()
    {
        if (!OperatingSystem.IsLinux()) return null;
        try
        {
            return MemGetInfo(out var free, out var total) == 0 ? (long)(total - free) : null;   // 0: CUDA_SUCCESS
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
    }
}
