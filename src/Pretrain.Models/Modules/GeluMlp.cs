using Pretrain.Models.Peft;
using Pretrain.Models.Text;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Pretrain.Models.Modules;

/// <summary>GPT-2 feed-forward: down_proj(gelu_tanh(up_proj(x))) (Radford et al. 2019; GELU: Hendrycks and Gimpel 2016).</summary>
public sealed class GeluMlp : Module<Tensor, Tensor>
{
    private readonly Module<Tensor, Tensor> up_proj;   // d -> hidden (Linear or LoraLinear)
    private readonly Module<Tensor, Tensor> down_proj; // hidden -> d: a residual output projection (scaled init)

    /// <param name="config">Model shape.</param>
    /// <param name="layer">Index of the block, for <see cref="LoraConfig.Layers"/>.</param>
    /// <param name="lora">LoRA settings; null for plain linear projections.</param>
    public GeluMlp(DecoderLmConfig config, int layer = 0, LoraConfig? lora = null) : base(nameof(GeluMlp))
    {
        up_proj = Projection.Create(config.EmbedDim, config.MlpDim, config.UseBias, nameof(up_proj), layer, lora);
        down_proj = Projection.Create(config.MlpDim, config.EmbedDim, config.UseBias, nameof(down_proj), layer, lora);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) // (B, T, C) -> (B, T, C)
    {
        // GPT-2's "gelu_new" is the tanh approximation.
        var h = functional.gelu(up_proj.call(x), TorchSharp.Modules.GELU.Approximate.tanh); // (B, T, hidden)
        return down_proj.call(h);
    }
}
