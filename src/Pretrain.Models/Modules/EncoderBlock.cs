using Pretrain.Models.Peft;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Pretrain.Models.Modules;

/// <summary>
/// Bidirectional transformer block, post-norm (BERT: x = norm1(x + drop(attn(x))), x = norm2(x + drop(mlp(x)))) or
/// pre-norm (ViT, MAE: x = x + drop(attn(norm1(x))), x = x + drop(mlp(norm2(x)))). The same four sub-modules in both,
/// so the state-dict keys do not depend on the placement: norm1, attn.{q,k,v,o}_proj, norm2, mlp.{up,down}_proj.
/// </summary>
public sealed class EncoderBlock : Module<Tensor, Tensor?, Tensor>
{
    private readonly LayerNorm norm1; // post-norm: BERT attention.output.LayerNorm; pre-norm: ViT layernorm_before
    private readonly BidirectionalSelfAttention attn;
    private readonly LayerNorm norm2; // post-norm: BERT output.LayerNorm; pre-norm: ViT layernorm_after
    private readonly EncoderMlp mlp;

    private readonly bool _postNorm;
    private readonly double _dropout;

    /// <param name="dim">Model width d.</param>
    /// <param name="heads">Attention heads.</param>
    /// <param name="mlpDim">MLP hidden width.</param>
    /// <param name="normEps">LayerNorm epsilon.</param>
    /// <param name="postNorm">True for BERT's post-LN, false for pre-LN.</param>
    /// <param name="qkvBias">Biases on q/k/v.</param>
    /// <param name="dropout">Dropout on each residual branch (training only).</param>
    /// <param name="attentionDropout">Dropout on the attention probabilities (training only).</param>
    /// <param name="layer">Index of this block, for <see cref="LoraConfig.Layers"/>.</param>
    /// <param name="lora">LoRA settings; null for plain linear projections.</param>
    public EncoderBlock(int dim, int heads, int mlpDim, double normEps, bool postNorm, bool qkvBias = true,
        double dropout = 0, double attentionDropout = 0, int layer = 0, LoraConfig? lora = null) : base(nameof(EncoderBlock))
    {
        norm1 = LayerNorm(dim, normEps);
        attn = new BidirectionalSelfAttention(dim, heads, qkvBias, attentionDropout, layer, lora);
        norm2 = LayerNorm(dim, normEps);
        mlp = new EncoderMlp(dim, mlpDim, layer, lora);
        _postNorm = postNorm;
        _dropout = dropout;
        RegisterComponents();
    }

    /// <param name="x">(B, T, C) tokens.</param>
    /// <param name="mask">Null or an additive (B, 1, 1, T) key-padding mask.</param>
    public override Tensor forward(Tensor x, Tensor? mask) => forward(x, mask, null); // (B, T, C) -> (B, T, C)

    /// <summary>As <see cref="forward(Tensor, Tensor?)"/>; a capture records this block's attention scores.</summary>
    public Tensor forward(Tensor x, Tensor? mask, LayerCapture? capture) // (B, T, C) -> (B, T, C)
    {
        Tensor Attend(Tensor h) => capture is null ? attn.call(h, mask) : attn.forward(h, mask, capture);
        if (_postNorm)
        {
            x = norm1.call(x + functional.dropout(Attend(x), _dropout, training));
            return norm2.call(x + functional.dropout(mlp.call(x), _dropout, training));
        }
        x = x + functional.dropout(Attend(norm1.call(x)), _dropout, training);
        return x + functional.dropout(mlp.call(norm2.call(x)), _dropout, training);
    }
}
