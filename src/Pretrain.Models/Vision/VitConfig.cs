namespace Pretrain.Models.Vision;

/// <summary>
/// Shape and options of a Vision Transformer (Dosovitskiy et al. 2021): p×p patches, a class token, learned or fixed
/// 2-D sin-cos positions (MAE), pre-LN blocks with an erf-GELU MLP, a final LayerNorm. Defaults are ViT-B/16's at 224.
/// </summary>
public sealed record VitConfig
{
    /// <summary>Square input side in pixels; a multiple of <see cref="PatchSize"/>.</summary>
    public int ImageSize { get; init; } = 224;

    /// <summary>Patch side p.</summary>
    public int PatchSize { get; init; } = 16;

    /// <summary>Input channels C.</summary>
    public int NumChannels { get; init; } = 3;

    /// <summary>Model width d (hidden_size).</summary>
    public int EmbedDim { get; init; } = 768;

    /// <summary>Number of blocks; 0 leaves patch embedding and the final norm (a probe on raw patch features).</summary>
    public int NumLayers { get; init; } = 12;

    /// <summary>Attention heads.</summary>
    public int NumHeads { get; init; } = 12;

    /// <summary>MLP hidden width (intermediate_size); null means 4·d.</summary>
    public int? MlpHiddenDim { get; init; }

    /// <summary>Biases on q/k/v (qkv_bias).</summary>
    public bool QkvBias { get; init; } = true;

    /// <summary>LayerNorm epsilon (Hugging Face ViT: 1e-12; MAE/timm: 1e-6).</summary>
    public double NormEps { get; init; } = 1e-12;

    /// <summary>Dropout on patch embeddings and residual branches (training only).</summary>
    public double Dropout { get; init; }

    /// <summary>Dropout on attention probabilities (training only).</summary>
    public double AttentionDropout { get; init; }

    /// <summary>Prepend a learned class token.</summary>
    public bool ClassToken { get; init; } = true;

    /// <summary>"cls": the class token's output; "mean": the mean of the patch tokens' outputs.</summary>
    public string GlobalPool { get; init; } = "cls";

    /// <summary>"learned": a trained table; "sincos": MAE's fixed 2-D sin-cos table (not trained, not saved).</summary>
    public string PosEmbed { get; init; } = "learned";

    /// <summary>Patches per side.</summary>
    public int GridSize => ImageSize / PatchSize;

    /// <summary>Number of patches N.</summary>
    public int NumPatches => GridSize * GridSize;

    /// <summary>Values per patch, p·p·C (the MAE target width).</summary>
    public int PatchDim => PatchSize * PatchSize * NumChannels;

    /// <summary>MLP hidden width after defaults.</summary>
    public int MlpDim => MlpHiddenDim ?? 4 * EmbedDim;

    /// <summary>Checks every setting; throws an <see cref="ArgumentException"/> naming the offending recipe key.</summary>
    public void Validate()
    {
        Positive(ImageSize, "model.image_size");
        Positive(PatchSize, "model.patch_size");
        Positive(NumChannels, "model.num_channels");
        Positive(EmbedDim, "model.embed_dim");
        if (NumLayers < 0)
            throw new ArgumentException($"model.num_layers ({NumLayers}) must be 0 or more.");
        Positive(NumHeads, "model.num_heads");
        if (ImageSize % PatchSize != 0)
            throw new ArgumentException($"model.image_size ({ImageSize}) must be a multiple of model.patch_size ({PatchSize}).");
        if (EmbedDim % NumHeads != 0)
            throw new ArgumentException($"model.embed_dim ({EmbedDim}) must be divisible by model.num_heads ({NumHeads}).");
        if (MlpHiddenDim is int h)
            Positive(h, "model.mlp_hidden_dim");
        if (GlobalPool is not ("cls" or "mean"))
            throw new ArgumentException($"model.global_pool '{GlobalPool}' is not known; use cls or mean.");
        if (GlobalPool == "cls" && !ClassToken)
            throw new ArgumentException("model.global_pool cls needs model.class_token true; use global_pool mean without a class token.");
        if (PosEmbed is not ("learned" or "sincos"))
            throw new ArgumentException($"model.pos_embed '{PosEmbed}' is not known; use learned or sincos.");
        if (PosEmbed == "sincos" && EmbedDim % 4 != 0)
            throw new ArgumentException($"2-D sin-cos positions need model.embed_dim ({EmbedDim}) divisible by 4.");
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
