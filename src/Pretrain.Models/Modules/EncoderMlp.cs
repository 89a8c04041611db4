using Pretrain.Models.Peft;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Pretrain.Models.Modules;

/// <summary>
/// Encoder feed-forward (BERT, ViT, MAE): down_proj(gelu(up_proj(x))) with the exact (erf) GELU — Hugging Face's
/// <c>hidden_act: gelu</c> (Hendrycks and Gimpel 2016). GPT-2's tanh form is <see cref="GeluMlp"/>.
/// </summary>
public sealed class EncoderMlp : Module<Tensor, Tensor>
{
    private readonly Module<Tensor, Tensor> up_proj;   // d -> hidden (Linear or LoraLinear)
    private readonly Module<Tensor, Tensor> down_proj; // hidden -> d

    /// <param name="dim">Model width d.</param>
    /// <param name="hiddenDim">Hidden width.</param>
    /// <param name="layer">Index of the block, for <see cref="LoraConfig.Layers"/>.</param>
    /// <param name="lora">LoRA settings; null for plain linear projections.</param>
    public EncoderMlp(int dim, int hiddenDim, int layer = 0, LoraConfig? lora = null) : base(nameof(EncoderMlp))
    {
        up_proj = Projection.Create(dim, hiddenDim, true, nameof(up_proj), layer, lora);
        down_proj = Projection.Create(hiddenDim, dim, true, nameof(down_proj), layer, lora);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) // (B, T, C) -> (B, T, C)
    {
        var h = functional.gelu(up_proj.call(x)); // (B, T, hidden), erf form
        return down_proj.call(h);
    }
}
