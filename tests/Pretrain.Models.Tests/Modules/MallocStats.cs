using System.Runtime.InteropServices;

namespace Pretrain.Models.Tests.Modules;

/// <summary>
/// glibc's allocator statistics: libtorch's CPU tensors are malloc'd, so the bytes in use (small chunks in every
/// arena plus mmap'd chunks) measure the tensor memory a process holds, unlike RSS, which keeps freed pages.
/// Linux with glibc only (the platform CI proves).
/// </summary>
internal static class MallocStats
{
    [StructLayout(LayoutKind.Sequential)]
    private struct Mallinfo2
    {
        public nuint Arena, Ordblks, Smblks, Hblks, Hblkhd, Usmblks, Fsmblks, Uordblks, Fordblks, Keepcost;
    }

    [DllImport("libc", EntryPoint = "mallinfo2")]
    private static extern Mallinfo2 Info();

    /// <summary>Bytes allocated and not yet freed: in-use arena chunks plus mmap'd chunks.</summary>
    public static long InUse()
    {
        var m = Info();
        return (long)(m.Uordblks + m.Hblkhd);
    }
}
