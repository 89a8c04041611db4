using Pretrain.Models.Text;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Pretrain.Models.Modules;

/// <summary>Llama feed-forward: down_proj(silu(gate_proj(x)) · up_proj(x)) (Shazeer 2020, "GLU Variants").</summary>
public sealed class SwiGluMlp : Module<Tensor, Tensor>
{
    private readonly Linear gate_proj; // d -> hidden
    private readonly Linear up_proj;   // d -> hidden
    private readonly Linear down_proj; // hidden -> d: a residual output projection (scaled init)

    public SwiGluMlp(DecoderLmConfig config) : base(nameof(SwiGluMlp))
    {
        gate_proj = Linear(config.EmbedDim, config.MlpDim, hasBias: config.UseBias);
        up_proj = Linear(config.EmbedDim, config.MlpDim, hasBias: config.UseBias);
        down_proj = Linear(config.MlpDim, config.EmbedDim, hasBias: config.UseBias);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) // (B, T, C) -> (B, T, C)
    {
        var h = functional.silu(gate_proj.call(x)) * up_proj.call(x); // (B, T, hidden)
        return down_proj.call(h);
    }
}
