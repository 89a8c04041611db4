using Pretrain.Models.Peft;
using TorchSharp;
using Pretrain.Models.Text;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Pretrain.Models.Modules;

/// <summary>
/// Multi-head causal self-attention (Vaswani et al. 2017) with separate q/k/v projections, optional RoPE and
/// grouped-query attention (Ainslie et al. 2023: <c>NumKvHeads</c> key/value heads shared by groups of query heads).
/// GPT-2's fused <c>c_attn</c> is produced only at the file boundary (Weights/HfDecoderLayout).
/// Llama-family switches: q/k/v biases alone (Qwen2), per-head RMSNorm on q and k before RoPE (Qwen3, q_norm/k_norm),
/// a head size other than d/H, rope scaling (Llama 3) and a sliding window over the keys (Mistral).
/// </summary>
public sealed class CausalSelfAttention : Module<Tensor, Tensor>
{
    private readonly Module<Tensor, Tensor> q_proj; // d -> H·Dh (Linear or LoraLinear)
    private readonly Module<Tensor, Tensor> k_proj; // d -> Hkv·Dh
    private readonly Module<Tensor, Tensor> v_proj; // d -> Hkv·Dh
    private readonly Module<Tensor, Tensor> o_proj; // H·Dh -> d: a residual output projection (scaled init)
    private readonly RmsNorm? q_norm;               // (Dh,) over each query head, qk-norm models only
    private readonly RmsNorm? k_norm;               // (Dh,) over each key head

    private readonly int _heads;
    private readonly int _kvHeads;
    private readonly int _headDim;
    private readonly bool _rope;
    private readonly double _ropeTheta;
    private readonly double _dropout;
    private readonly RopeScaling? _ropeScaling;
    private readonly int? _window;

    /// <param name="config">Model shape.</param>
    /// <param name="layer">Index of the block, for <see cref="LoraConfig.Layers"/>.</param>
    /// <param name="lora">LoRA settings; null for plain linear projections.</param>
    public CausalSelfAttention(DecoderLmConfig config, int layer = 0, LoraConfig? lora = null) : base(nameof(CausalSelfAttention))
    {
        _heads = config.NumHeads;
        _kvHeads = config.KvHeads;
        _headDim = config.HeadDim;
        _rope = config.IsLlama;
        _ropeTheta = config.RopeTheta;
        _dropout = config.Dropout;
        _ropeScaling = config.RopeScaling;
        _window = config.SlidingWindow;
        var d = config.EmbedDim;
        var qkvBias = config.UseQkvBias;
        q_proj = Projection.Create(d, _heads * _headDim, qkvBias, nameof(q_proj), layer, lora);
        k_proj = Projection.Create(d, _kvHeads * _headDim, qkvBias, nameof(k_proj), layer, lora);
        v_proj = Projection.Create(d, _kvHeads * _headDim, qkvBias, nameof(v_proj), layer, lora);
        o_proj = Projection.Create(_heads * _headDim, d, config.UseBias, nameof(o_proj), layer, lora);
        if (config.QkNorm)
        {
            q_norm = new RmsNorm(_headDim, config.NormEps);
            k_norm = new RmsNorm(_headDim, config.NormEps);
        }
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => forward(x, null, null); // (B, T, C) -> (B, T, C)

    /// <param name="x">Hidden states (B, T, C).</param>
    /// <param name="attn_mask">
    /// Boolean (B, 1, T, T), true = may attend, already causal (e.g. block-diagonal causal over packed documents);
    /// null: plain causal attention. PyTorch's sdpa semantics: with a bool mask, false entries get −∞ before softmax.
    /// </param>
    /// <param name="position_ids">RoPE positions (B, T) int64; null: 0..T-1.</param>
    public Tensor forward(Tensor x, Tensor? attn_mask, Tensor? position_ids) // (B, T, C) -> (B, T, C)
    {
        var b = x.shape[0];
        var t = x.shape[1];
        var q = q_proj.call(x).view(b, t, _heads, _headDim).transpose(1, 2);   // (B, H, T, Dh)
        var k = k_proj.call(x).view(b, t, _kvHeads, _headDim).transpose(1, 2); // (B, Hkv, T, Dh)
        var v = v_proj.call(x).view(b, t, _kvHeads, _headDim).transpose(1, 2); // (B, Hkv, T, Dh)
        if (q_norm is not null && k_norm is not null)
        {
            q = q_norm.call(q); // normalised over Dh, per head
            k = k_norm.call(k);
        }
        if (_rope)
        {
            var invFreq = RotaryEmbedding.InverseFrequencies(_headDim, _ropeTheta, _ropeScaling, x.device); // (Dh/2,)
            q = RotaryEmbedding.Apply(q, invFreq, position_ids);
            k = RotaryEmbedding.Apply(k, invFreq, position_ids);
        }
        if (_window is int w && t > w)
        {
            // Sliding window: query i sees keys i − W < j ≤ i. Indices, not positions: within a packed document
            // (the only keys the block-diagonal mask lets through) they differ by the same amount.
            var i = torch.arange(t, ScalarType.Int64, x.device);
            var offset = i.unsqueeze(1) - i.unsqueeze(0);                                       // (T, T): i − j
            var window = offset.ge(0).logical_and(offset.lt(w));                                // (T, T) bool
            attn_mask = attn_mask is null ? window.view(1, 1, t, t) : attn_mask.logical_and(window);
        }
        if (_kvHeads != _heads)
        {
            // Query head h reads key/value head h / (H / Hkv), as Hugging Face's repeat_kv.
            k = k.repeat_interleave(_heads / _kvHeads, dim: 1); // (B, H, T, Dh)
            v = v.repeat_interleave(_heads / _kvHeads, dim: 1); // (B, H, T, Dh)
        }
        var p = training ? _dropout : 0.0;
        // Positional arguments: TorchSharp 0.107 spells the flag is_casual.
        // An explicit mask replaces the causal flag (sdpa takes one or the other).
        var y = functional.scaled_dot_product_attention(q, k, v, attn_mask, p, attn_mask is null); // (B, H, T, Dh)
        y = y.transpose(1, 2).contiguous().view(b, t, _heads * _headDim);                // (B, T, C)
        return o_proj.call(y);
    }
}
