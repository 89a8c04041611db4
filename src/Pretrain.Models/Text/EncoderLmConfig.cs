namespace Pretrain.Models.Text;

/// <summary>
/// Shape and options of a BERT-style bidirectional encoder (Devlin et al. 2019): token, learned position and
/// segment embeddings, then post-LN (BERT) or pre-LN blocks with an erf-GELU MLP. Defaults are bert-base's.
/// </summary>
public sealed record EncoderLmConfig
{
    /// <summary>Number of token ids (rows of the word embedding).</summary>
    public required int VocabSize { get; init; }

    /// <summary>Longest sequence: rows of the learned position table (max_position_embeddings).</summary>
    public int MaxSeqLen { get; init; } = 512;

    /// <summary>Number of segment ids (type_vocab_size); 0 means no segment embedding.</summary>
    public int TypeVocabSize { get; init; } = 2;

    /// <summary>Model width d (hidden_size).</summary>
    public int EmbedDim { get; init; } = 768;

    /// <summary>Number of blocks (num_hidden_layers).</summary>
    public int NumLayers { get; init; } = 12;

    /// <summary>Attention heads (num_attention_heads).</summary>
    public int NumHeads { get; init; } = 12;

    /// <summary>MLP hidden width (intermediate_size); null means 4·d.</summary>
    public int? MlpHiddenDim { get; init; }

    /// <summary>Dropout on embeddings and residual branches (hidden_dropout_prob; training only).</summary>
    public double Dropout { get; init; } = 0.1;

    /// <summary>Dropout on attention probabilities (attention_probs_dropout_prob; training only).</summary>
    public double AttentionDropout { get; init; } = 0.1;

    /// <summary>LayerNorm epsilon (layer_norm_eps).</summary>
    public double NormEps { get; init; } = 1e-12;

    /// <summary>True: BERT's post-LN blocks. False: pre-LN blocks and a final LayerNorm (no Hugging Face twin).</summary>
    public bool PostNorm { get; init; } = true;

    /// <summary>Adds BERT's pooler (dense + tanh on the first token). Off by default: MLM does not train it.</summary>
    public bool Pooler { get; init; }

    /// <summary>MLP hidden width after defaults.</summary>
    public int MlpDim => MlpHiddenDim ?? 4 * EmbedDim;

    /// <summary>Checks every setting; throws an <see cref="ArgumentException"/> naming the offending recipe key.</summary>
    public void Validate()
    {
        Positive(VocabSize, "model.vocab_size");
        Positive(MaxSeqLen, "model.max_seq_len");
        if (TypeVocabSize < 0)
            throw new ArgumentException($"model.type_vocab_size ({TypeVocabSize}) must be 0 or more.");
        Positive(EmbedDim, "model.embed_dim");
        Positive(NumLayers, "model.num_layers");
        Positive(NumHeads, "model.num_heads");
        if (EmbedDim % NumHeads != 0)
            throw new ArgumentException($"model.embed_dim ({EmbedDim}) must be divisible by model.num_heads ({NumHeads}).");
        if (MlpHiddenDim is int h)
            Positive(h, "model.mlp_hidden_dim");
        Probability(Dropout, "model.dropout");
        Probability(AttentionDropout, "model.attention_dropout");
        if (!(NormEps > 0))
            throw new ArgumentException($"model.norm_eps ({NormEps}) must be positive.");
    }

    private static void Positive(int value, string key)
    {
        if (value <= 0)
            throw new ArgumentException($"{key} ({value}) must be positive.");
    }

    private static void Probability(double value, string key)
    {
        if (value is < 0 or >= 1 || double.IsNaN(value))
            throw new ArgumentException($"{key} ({value}) must be in [0, 1).");
    }
}
