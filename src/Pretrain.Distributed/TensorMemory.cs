using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace Pretrain.Distributed;

/// <summary>The address of a tensor's first element (host or device memory), for handing to MPI and NCCL.</summary>
internal static class TensorMemory
{
    /// <summary>Storage base + offset × element size: the tensor's own first element, also for views.</summary>
    public static IntPtr Address(Tensor tensor) =>
        THSStorage_data_ptr(tensor.Handle) + checked((nint)(tensor.storage_offset() * tensor.element_size()));

    /// <summary>Throws naming <paramref name="collective"/> unless the tensor is contiguous (its elements are one block).</summary>
    public static void RequireContiguous(Tensor tensor, string collective)
    {
        if (!tensor.is_contiguous())
            throw new CollectiveException($"{collective}: the tensor must be contiguous (call .contiguous() first); shape [{string.Join(", ", tensor.shape)}]");
    }

    [DllImport("LibTorchSharp")]
    private static extern IntPtr THSStorage_data_ptr(IntPtr tensor);
}
