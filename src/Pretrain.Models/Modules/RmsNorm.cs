using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Pretrain.Models.Modules;

/// <summary>
/// Root-mean-square norm (Zhang and Sennrich 2019), as in Llama: x / sqrt(mean(x²) + eps) · weight.
/// The statistics are computed in float32 and cast back, as Hugging Face's LlamaRMSNorm does.
/// </summary>
public sealed class RmsNorm : Module<Tensor, Tensor>
{
    private readonly Parameter weight; // (C,) state-dict key: weight
    private readonly double _eps;

    public RmsNorm(long dim, double eps) : base(nameof(RmsNorm))
    {
        weight = new Parameter(ones(dim));
        _eps = eps;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) // (..., C) -> (..., C)
    {
        var dtype = x.dtype;
        var x32 = x.to_type(ScalarType.Float32);
        var variance = x32.pow(2).mean([-1L], keepdim: true);   // (..., 1)
        var normed = (x32 * torch.rsqrt(variance + _eps)).to_type(dtype);
        return weight * normed;
    }
}
