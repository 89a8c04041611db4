using Pretrain.Models.Peft;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Pretrain.Models.Modules;

/// <summary>
/// Multi-head self-attention without a causal mask (Vaswani et al. 2017; BERT, ViT), with separate q/k/v projections.
/// An optional additive mask (B, 1, 1, T) — see <see cref="KeyPaddingMask"/> — hides padding keys.
/// </summary>
public sealed class BidirectionalSelfAttention : Module<Tensor, Tensor?, Tensor>
{
    private readonly Module<Tensor, Tensor> q_proj; // d -> d (Linear or LoraLinear)
    private readonly Module<Tensor, Tensor> k_proj; // d -> d
    private readonly Module<Tensor, Tensor> v_proj; // d -> d
    private readonly Module<Tensor, Tensor> o_proj; // d -> d

    private readonly int _heads;
    private readonly int _headDim;
    private readonly double _dropout;

    /// <param name="dim">Model width d.</param>
    /// <param name="heads">Number of heads; must divide <paramref name="dim"/>.</param>
    /// <param name="qkvBias">Biases on q/k/v (ViT's qkv_bias); the output projection always has one.</param>
    /// <param name="attentionDropout">Dropout on the attention probabilities (training only).</param>
    /// <param name="layer">Index of the block, for <see cref="LoraConfig.Layers"/>.</param>
    /// <param name="lora">LoRA settings; null for plain linear projections.</param>
    public BidirectionalSelfAttention(int dim, int heads, bool qkvBias = true, double attentionDropout = 0,
        int layer = 0, LoraConfig? lora = null)
        : base(nameof(BidirectionalSelfAttention))
    {
        if (heads <= 0 || dim % heads != 0)
            throw new ArgumentException($"Width {dim} must be divisible by the number of heads ({heads}).", nameof(heads));
        _heads = heads;
        _headDim = dim / heads;
        _dropout = attentionDropout;
        q_proj = Projection.Create(dim, dim, qkvBias, nameof(q_proj), layer, lora);
        k_proj = Projection.Create(dim, dim, qkvBias, nameof(k_proj), layer, lora);
        v_proj = Projection.Create(dim, dim, qkvBias, nameof(v_proj), layer, lora);
        o_proj = Projection.Create(dim, dim, true, nameof(o_proj), layer, lora);
        RegisterComponents();
    }

    /// <summary>Attends every token to every key the mask keeps.</summary>
    /// <param name="x">(B, T, C) tokens.</param>
    /// <param name="mask">Null (attend everywhere) or an additive (B, 1, 1, T) mask of 0 and a large negative value.</param>
    public override Tensor forward(Tensor x, Tensor? mask) => forward(x, mask, null); // (B, T, C) -> (B, T, C)

    /// <summary>
    /// As <see cref="forward(Tensor, Tensor?)"/>; with a capture the scores are computed explicitly (softmax(q·kᵀ/√d_h +
    /// mask)·v, the same result as the fused kernel) and stored in <see cref="LayerCapture.AttentionScores"/>.
    /// </summary>
    public Tensor forward(Tensor x, Tensor? mask, LayerCapture? capture) // (B, T, C) -> (B, T, C)
    {
        var b = x.shape[0];
        var t = x.shape[1];
        var q = q_proj.call(x).view(b, t, _heads, _headDim).transpose(1, 2); // (B, H, T, Dh)
        var k = k_proj.call(x).view(b, t, _heads, _headDim).transpose(1, 2); // (B, H, T, Dh)
        var v = v_proj.call(x).view(b, t, _heads, _headDim).transpose(1, 2); // (B, H, T, Dh)
        var p = training ? _dropout : 0.0;
        Tensor y;
        if (capture is null)
            y = functional.scaled_dot_product_attention(q, k, v, mask, p, false); // (B, H, T, Dh)
        else
        {
            var scores = q.matmul(k.transpose(-2, -1)) / Math.Sqrt(_headDim);   // (B, H, T, T)
            if (mask is not null)
                scores = scores + mask;
            capture.AttentionScores = scores;
            y = functional.dropout(functional.softmax(scores, -1), p, training).matmul(v); // (B, H, T, Dh)
        }
        y = y.transpose(1, 2).contiguous().view(b, t, _heads * _headDim);       // (B, T, C)
        return o_proj.call(y);
    }

    /// <summary>
    /// Additive key-padding mask from a (B, T) attention mask (1 = real token, 0 = padding): (B, 1, 1, T) with 0 for
    /// kept keys and the dtype's most negative value for padding, as Hugging Face's BERT does. A finite value (not
    /// −∞) keeps an all-padding row finite: it attends uniformly instead of producing NaN.
    /// </summary>
    public static Tensor KeyPaddingMask(Tensor attentionMask, ScalarType dtype)
    {
        if (attentionMask.dim() != 2)
            throw new ArgumentException($"attention_mask must be (B, T); got [{string.Join(", ", attentionMask.shape)}].", nameof(attentionMask));
        var keep = attentionMask.to_type(dtype)[.., TensorIndex.None, TensorIndex.None, ..]; // (B, 1, 1, T)
        return (1.0 - keep) * MostNegative(dtype);
    }

    private static double MostNegative(ScalarType dtype) => dtype switch
    {
        ScalarType.Float64 => double.MinValue,
        ScalarType.Float16 => -65504.0,
        ScalarType.BFloat16 => -3.3895313892515355e38,
        _ => float.MinValue,
    };
}
