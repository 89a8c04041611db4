namespace Pretrain.Onnx.Export;

/// <summary>
/// How an int8 export computes its weight matmuls (<c>--quantize-kernel</c>). Both quantize the weights per output
/// channel, symmetrically (scale = max |w| / 127, zero point 0), and the activations per tensor at run time
/// (DynamicQuantizeLinear: uint8 with a zero point); they differ only in how the int8 weights are stored, which picks
/// ONNX Runtime's CPU kernel.
/// </summary>
public enum QuantizeKernel
{
    /// <summary>
    /// int8 weights into MatMulInteger (ONNX Runtime fuses it into DynamicQuantizeMatMul; u8·s8 kernels). Inexact on
    /// x86 CPUs without VNNI: their u8·s8 kernel adds pairs of products in saturating 16-bit lanes.
    /// </summary>
    S8,

    /// <summary>The same int8 values stored as uint8 + 128 with zero point 128 (u8·u8 kernels: exact on every CPU). The default.</summary>
    U8,
}
