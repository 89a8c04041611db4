using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace Pretrain.Training.Optim;

/// <summary>
/// Whether a parameter's <c>.grad</c> is still the view <see cref="AdamW"/> bound to it. TorchSharp 0.107 has no
/// public data pointer, so this asks LibTorchSharp (the native library TorchSharp ships and has already loaded)
/// for the storage's base address; with the storage offset it identifies the memory a gradient lives in.
/// </summary>
internal static partial class GradientIdentity
{
    public static bool SameMemory(Tensor a, Tensor b) =>
        a.storage_offset() == b.storage_offset() && THSStorage_data_ptr(a.Handle) == THSStorage_data_ptr(b.Handle);

    [DllImport("LibTorchSharp")]
    private static extern IntPtr THSStorage_data_ptr(IntPtr tensor);
}
