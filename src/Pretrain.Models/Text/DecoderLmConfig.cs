namespace Pretrain.Models.Text;

/// <summary>
/// Shape and options of a decoder-only causal language model (nanoGPT's <c>GPTConfig</c>, litgpt's <c>Config</c>).
/// <c>Arch</c> picks one of two families:
/// <c>gpt2</c> (learned positions, LayerNorm, tanh-GELU MLP, biases) and
/// <c>llama</c> (RoPE in Hugging Face rotate-half form, RMSNorm, SwiGLU MLP, no biases, grouped-query attention).
/// The llama family's variants (Llama 3 rope scaling, Qwen2 q/k/v biases, Qwen3 q/k norms and head size, Mistral's
/// sliding window, Phi-3's fused file layout) are switches of <c>llama</c>, set from their config.json on import.
/// </summary>
public sealed record DecoderLmConfig
{
    /// <summary>Architecture family: "gpt2" or "llama".</summary>
    public string Arch { get; init; } = "gpt2";

    /// <summary>Number of token ids (rows of the embedding).</summary>
    public required int VocabSize { get; init; }

    /// <summary>Longest sequence; the size of the learned position table for gpt2.</summary>
    public int MaxSeqLen { get; init; } = 1024;

    /// <summary>Model width d.</summary>
    public int EmbedDim { get; init; } = 768;

    /// <summary>Number of transformer blocks.</summary>
    public int NumLayers { get; init; } = 12;

    /// <summary>Number of query heads.</summary>
    public int NumHeads { get; init; } = 12;

    /// <summary>Key/value heads for grouped-query attention (llama); null means <see cref="NumHeads"/>.</summary>
    public int? NumKvHeads { get; init; }

    /// <summary>MLP hidden width; null means 4·d (gpt2) or round_up(2/3·4·d, 64) (llama).</summary>
    public int? MlpHiddenDim { get; init; }

    /// <summary>Dropout on embeddings, attention probabilities and residual branches (training only).</summary>
    public double Dropout { get; init; }

    /// <summary>The LM head reuses the token embedding matrix.</summary>
    public bool TieEmbeddings { get; init; } = true;

    /// <summary>Epsilon of LayerNorm / RMSNorm.</summary>
    public double NormEps { get; init; } = 1e-5;

    /// <summary>RoPE base θ (llama).</summary>
    public double RopeTheta { get; init; } = 10000;

    /// <summary>Biases in linear layers (and LayerNorm for gpt2); null means true for gpt2, false for llama.</summary>
    public bool? Bias { get; init; }

    /// <summary>
    /// Hugging Face layout (config.json model_type and tensor names) a llama-family model is read and written in:
    /// null (llama), qwen2, qwen3, mistral or phi3 (fused qkv_proj and gate_up_proj). The model itself never reads it.
    /// </summary>
    public string? Layout { get; init; }

    /// <summary>Width of one head when it is not embed_dim / num_heads (config.json head_dim, Qwen3); null: the quotient.</summary>
    public int? HeadSize { get; init; }

    /// <summary>Biases on q/k/v only, whatever <see cref="Bias"/> says (Qwen2); null: <see cref="UseBias"/>.</summary>
    public bool? QkvBias { get; init; }

    /// <summary>Per-head RMSNorm (weight of size head_dim) on queries and keys before RoPE (Qwen3).</summary>
    public bool QkNorm { get; init; }

    /// <summary>
    /// Sliding-window attention (Mistral, Phi-3): query i sees keys j with i − W &lt; j ≤ i, W keys itself included,
    /// as Hugging Face's sliding-window mask; null: every earlier key.
    /// </summary>
    public int? SlidingWindow { get; init; }

    /// <summary>RoPE frequency scaling (config.json rope_scaling, llama3 or linear); null: plain RoPE.</summary>
    public RopeScaling? RopeScaling { get; init; }

    /// <summary>Layouts of the llama family besides plain llama.</summary>
    public static readonly IReadOnlyList<string> Layouts = ["qwen2", "qwen3", "mistral", "phi3"];

    /// <summary>True for the llama family.</summary>
    public bool IsLlama => Arch == "llama";

    /// <summary>Key/value heads after defaults.</summary>
    public int KvHeads => NumKvHeads ?? NumHeads;

    /// <summary>Width of one head.</summary>
    public int HeadDim => HeadSize ?? EmbedDim / NumHeads;

    /// <summary>q/k/v biases after defaults.</summary>
    public bool UseQkvBias => QkvBias ?? UseBias;

    /// <summary>Biases after defaults.</summary>
    public bool UseBias => Bias ?? !IsLlama;

    /// <summary>MLP hidden width after defaults.</summary>
    public int MlpDim => MlpHiddenDim ?? (IsLlama ? RoundUp(2 * 4 * EmbedDim / 3, 64) : 4 * EmbedDim);

    /// <summary>Checks every setting; throws an <see cref="ArgumentException"/> naming the offending recipe key.</summary>
    public void Validate()
    {
        if (Arch is not ("gpt2" or "llama"))
            throw new ArgumentException($"model.arch '{Arch}' is not known; use gpt2 or llama.");
        Positive(VocabSize, "model.vocab_size");
        Positive(MaxSeqLen, "model.max_seq_len");
        Positive(EmbedDim, "model.embed_dim");
        Positive(NumLayers, "model.num_layers");
        Positive(NumHeads, "model.num_heads");
        if (HeadSize is int hs)
        {
            Positive(hs, "model.head_dim");
            if (!IsLlama)
                throw new ArgumentException("model.head_dim needs arch llama (gpt2's head size is embed_dim / num_heads).");
        }
        else if (EmbedDim % NumHeads != 0)
            throw new ArgumentException($"model.embed_dim ({EmbedDim}) must be divisible by model.num_heads ({NumHeads}).");
        if (NumKvHeads is int kv)
        {
            Positive(kv, "model.num_kv_heads");
            if (!IsLlama && kv != NumHeads)
                throw new ArgumentException($"model.num_kv_heads ({kv}) differs from model.num_heads ({NumHeads}); grouped-query attention needs arch llama.");
            if (NumHeads % kv != 0)
                throw new ArgumentException($"model.num_heads ({NumHeads}) must be divisible by model.num_kv_heads ({kv}).");
        }
        if (IsLlama && HeadDim % 2 != 0)
            throw new ArgumentException($"RoPE needs an even head size: model.embed_dim / model.num_heads = {HeadDim}.");
        if (!IsLlama && (Layout is not null || QkvBias is not null || QkNorm || SlidingWindow is not null || RopeScaling is not null))
            throw new ArgumentException("Layout, q/k/v bias, q/k norm, sliding window and rope scaling are llama-family settings; use arch llama.");
        if (Layout is not null && !Layouts.Contains(Layout, StringComparer.Ordinal))
            throw new ArgumentException($"Layout '{Layout}' is not known; use {string.Join(", ", Layouts)} or none (llama).");
        if (SlidingWindow is int w)
            Positive(w, "model.sliding_window");
        RopeScaling?.Validate();
        if (MlpHiddenDim is int h)
            Positive(h, "model.mlp_hidden_dim");
        if (Dropout is < 0 or >= 1 || double.IsNaN(Dropout))
            throw new ArgumentException($"model.dropout ({Dropout}) must be in [0, 1).");
        if (!(NormEps > 0))
            throw new ArgumentException($"model.norm_eps ({NormEps}) must be positive.");
        if (!(RopeTheta > 0))
            throw new ArgumentException($"model.rope_theta ({RopeTheta}) must be positive.");
    }

    private static void Positive(int value, string key)
    {
        if (value <= 0)
            throw new ArgumentException($"{key} ({value}) must be positive.");
    }

    private static int RoundUp(int value, int multiple) => (value + multiple - 1) / multiple * multiple;
}
