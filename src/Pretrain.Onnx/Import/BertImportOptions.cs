namespace Pretrain.Onnx.Import;

/// <summary>
/// Overrides for hyper-parameters the BERT importer infers from the graph (<c>pretrain import --num-heads
/// --norm-eps --activation</c>). Null means "infer"; a value wins over what the graph shows, and the override is
/// reported.
/// </summary>
public sealed record BertImportOptions
{
    /// <summary>Attention heads (inferred from the head-splitting Reshape or the 1/√head_dim scale).</summary>
    public int? NumHeads { get; init; }

    /// <summary>LayerNorm epsilon (inferred from LayerNormalization or the decomposed pattern's Add).</summary>
    public double? NormEps { get; init; }

    /// <summary>
    /// "gelu" accepts a graph whose MLP activation is not the erf GELU (tanh-approximated GELU, say) and imports it
    /// as the erf GELU that Pretrain's encoder computes: outputs then differ slightly from the original.
    /// </summary>
    public string? Activation { get; init; }

    /// <summary>Name of the graph output holding the last hidden state (default: last_hidden_state, else the first output).</summary>
    public string? OutputName { get; init; }
}
