using Pretrain.Models.Peft;
using Pretrain.Models.Text;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Pretrain.Models.Modules;

/// <summary>Llama feed-forward: down_proj(silu(gate_proj(x)) · up_proj(x)) (Shazeer 2020, "GLU Variants").</summary>
public sealed class SwiGluMlp : Module<Tensor, Tensor>
{
    private readonly Module<Tensor, Tensor> gate_proj; // d -> hidden (Linear or LoraLinear)
    private readonly Module<Tensor, Tensor> up_proj;   // d -> hidden
    private readonly Module<Tensor, Tensor> down_proj; // hidden -> d: a residual output projection (scaled init)

    /// <param name="config">Model shape.</param>
    /// <param name="layer">Index of the block, for <see cref="LoraConfig.Layers"/>.</param>
    /// <param name="lora">LoRA settings; null for plain linear projections.</param>
    public SwiGluMlp(DecoderLmConfig config, int layer = 0, LoraConfig? lora = null) : base(nameof(SwiGluMlp))
    {
        var (d, h, bias) = (config.EmbedDim, config.MlpDim, config.UseBias);
        gate_proj = Projection.Create(d, h, bias, nameof(gate_proj), layer, lora);
        up_proj = Projection.Create(d, h, bias, nameof(up_proj), layer, lora);
        down_proj = Projection.Create(h, d, bias, nameof(down_proj), layer, lora);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) // (B, T, C) -> (B, T, C)
    {
        var h = functional.silu(gate_proj.call(x)) * up_proj.call(x); // (B, T, hidden)
        return down_proj.call(h);
    }
}
