using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Pretrain.Models.Modules;

/// <summary>
/// Encoder feed-forward (BERT, ViT, MAE): down_proj(gelu(up_proj(x))) with the exact (erf) GELU — Hugging Face's
/// <c>hidden_act: gelu</c> (Hendrycks and Gimpel 2016). GPT-2's tanh form is <see cref="GeluMlp"/>.
/// </summary>
public sealed class EncoderMlp : Module<Tensor, Tensor>
{
    private readonly Linear up_proj;   // d -> hidden
    private readonly Linear down_proj; // hidden -> d

    public EncoderMlp(int dim, int hiddenDim) : base(nameof(EncoderMlp))
    {
        up_proj = Linear(dim, hiddenDim);
        down_proj = Linear(hiddenDim, dim);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) // (B, T, C) -> (B, T, C)
    {
        var h = functional.gelu(up_proj.call(x)); // (B, T, hidden), erf form
        return down_proj.call(h);
    }
}
