namespace Pretrain.Models.Text;

/// <summary>
/// Shape and options of a decoder-only causal language model (nanoGPT's <c>GPTConfig</c>, litgpt's <c>Config</c>).
/// <c>Arch</c> picks one of two families:
/// <c>gpt2</c> (learned positions, LayerNorm, tanh-GELU MLP, biases) and
/// <c>llama</c> (RoPE in Hugging Face rotate-half form, RMSNorm, SwiGLU MLP, no biases, grouped-query attention).
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

    /// <summary>True for the llama family.</summary>
    public bool IsLlama => Arch == "llama";

    /// <summary>Key/value heads after defaults.</summary>
    public int KvHeads => NumKvHeads ?? NumHeads;

    /// <summary>Width of one head.</summary>
    public int HeadDim => EmbedDim / NumHeads;

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
        if (EmbedDim % NumHeads != 0)
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
