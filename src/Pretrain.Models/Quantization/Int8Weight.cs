using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Models.Quantization;

/// <summary>
/// Per-output-channel absmax int8 (LLM.int8's vector-wise quantization without the outlier split, Dettmers et al.
/// 2022): row r is stored as round(w / s_r) in [−127, 127] with s_r = max|w_r| / 127, so every element's error is at
/// most s_r / 2. 1 byte per weight + 4 per row.
/// </summary>
public sealed class Int8Weight : QuantizedWeight
{
    private Tensor _codes = null!;  // (out, in) int8
    private Tensor _scales = null!; // (out, 1) float32

    /// <summary>The per-row scale s_r (out, 1).</summary>
    public Tensor Scales => _scales;

    public override long Bytes => _codes.numel() + 4 * _scales.numel();

    public static Int8Weight Quantize(Tensor weight) // (out, in)
    {
        if (weight.dim() != 2)
            throw new ArgumentException($"int8 quantization takes a (out, in) weight; got {weight.dim()} dimensions.");
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var w = weight.detach().to_type(ScalarType.Float32);
        var scales = w.abs().amax([1], keepdim: true).clamp_min(1e-12) / 127.0;             // (out, 1)
        var codes = (w / scales).round().clamp(-127, 127).to_type(ScalarType.Int8);          // (out, in)
        return new Int8Weight { Shape = weight.shape, _codes = codes.MoveToOuterDisposeScope(), _scales = scales.MoveToOuterDisposeScope() };
    }

    public override Tensor Dequantize() => _codes.to_type(ScalarType.Float32) * _scales; // (out, in)

    public override void Dispose()
    {
        _codes.Dispose();
        _scales.Dispose();
    }
}
