using static TorchSharp.torch;

namespace Pretrain.Models.Modules;

/// <summary>
/// What a forward records when one is passed in, for layer-wise distillation (TinyBERT, Jiao et al. 2020; MiniLM,
/// Wang et al. 2020): the hidden state after the embeddings and after every block, and — when
/// <see cref="LastAttention"/> is set — the last block's attention scores. The tensors are the forward's own (they
/// carry its graph); a forward without a capture records nothing and runs exactly as before.
/// </summary>
public sealed class LayerCapture
{
    /// <summary>Also record the last block's attention scores (it then computes attention explicitly, not fused).</summary>
    public bool LastAttention { get; init; }

    /// <summary>Hugging Face's hidden_states order: [0] the embeddings' output, [i] block i's output (B, T, C).</summary>
    public List<Tensor> Hidden { get; } = [];

    /// <summary>The last block's scaled scores q·kᵀ/√d_h plus the padding mask, before softmax (B, H, T, T); null unless requested.</summary>
    public Tensor? AttentionScores { get; set; }

    /// <summary>The (B, T) attention mask the forward was given (1 real, 0 padding); null: every position is real.</summary>
    public Tensor? TokenMask { get; set; }
}
