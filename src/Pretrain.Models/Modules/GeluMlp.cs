using Pretrain.Models.Text;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Pretrain.Models.Modules;

/// <summary>GPT-2 feed-forward: down_proj(gelu_tanh(up_proj(x))) (Radford et al. 2019; GELU: Hendrycks and Gimpel 2016).</summary>
public sealed class GeluMlp : Module<Tensor, Tensor>
{
    private readonly Linear up_proj;   // d -> hidden
    private readonly Linear down_proj; // hidden -> d: a residual output projection (scaled init)

    public GeluMlp(DecoderLmConfig config) : base(nameof(GeluMlp))
    {
        up_proj = Linear(config.EmbedDim, config.MlpDim, hasBias: config.UseBias);
        down_proj = Linear(config.MlpDim, config.EmbedDim, hasBias: config.UseBias);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) // (B, T, C) -> (B, T, C)
    {
        // GPT-2's "gelu_new" is the tanh approximation.
        var h = functional.gelu(up_proj.call(x), TorchSharp.Modules.GELU.Approximate.tanh); // (B, T, hidden)
        return down_proj.call(h);
    }
}
