namespace Pretrain.Models.Vision;

/// <summary>
/// Shape of MAE's light decoder (He et al. 2021, §3): defaults are the paper's 8 blocks of width 512 with 16 heads.
/// The patch grid, patch size and channels come from the encoder's <see cref="VitConfig"/>.
/// </summary>
public sealed record MaeDecoderConfig
{
    /// <summary>Decoder width.</summary>
    public int EmbedDim { get; init; } = 512;

    /// <summary>Decoder blocks; 0 leaves embed, norm and the prediction layer (MAE §4.1 ablates depth down to 1).</summary>
    public int NumLayers { get; init; } = 8;

    /// <summary>Decoder attention heads.</summary>
    public int NumHeads { get; init; } = 16;

    /// <summary>MLP hidden width; null means 4·width.</summary>
    public int? MlpHiddenDim { get; init; }

    /// <summary>LayerNorm epsilon; null means the encoder's.</summary>
    public double? NormEps { get; init; }

    /// <summary>MLP hidden width after defaults.</summary>
    public int MlpDim => MlpHiddenDim ?? 4 * EmbedDim;

    /// <summary>Checks every setting; throws an <see cref="ArgumentException"/> naming the offending recipe key.</summary>
    public void Validate()
    {
        if (EmbedDim <= 0 || NumHeads <= 0)
            throw new ArgumentException($"mae.decoder_embed_dim ({EmbedDim}) and mae.decoder_num_heads ({NumHeads}) must be positive.");
        if (NumLayers < 0)
            throw new ArgumentException($"mae.decoder_num_layers ({NumLayers}) must be 0 or more.");
        if (EmbedDim % NumHeads != 0)
            throw new ArgumentException($"mae.decoder_embed_dim ({EmbedDim}) must be divisible by mae.decoder_num_heads ({NumHeads}).");
        if (EmbedDim % 4 != 0)
            throw new ArgumentException($"mae.decoder_embed_dim ({EmbedDim}) must be divisible by 4 for 2-D sin-cos positions.");
        if (MlpHiddenDim is <= 0)
            throw new ArgumentException($"mae.decoder_mlp_hidden_dim ({MlpHiddenDim}) must be positive.");
        if (NormEps is double eps && !(eps > 0))
            throw new ArgumentException($"mae.decoder_norm_eps ({eps}) must be positive.");
    }
}
