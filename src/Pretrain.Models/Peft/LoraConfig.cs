namespace Pretrain.Models.Peft;

/// <summary>
/// Low-rank adaptation settings (Hu et al. 2021, "LoRA"): which projections get an adapter, of what rank, and how its
/// update is scaled. A model built with a <see cref="LoraConfig"/> creates <see cref="LoraLinear"/> instead of
/// <c>Linear</c> for the projections named in <see cref="Targets"/> (our module names: <c>q_proj</c>, <c>k_proj</c>,
/// <c>v_proj</c>, <c>o_proj</c>, <c>gate_proj</c>, <c>up_proj</c>, <c>down_proj</c>) in the blocks named in
/// <see cref="Layers"/>. Defaults: r 8, α 16 (α = 2r), dropout 0.05, targets q and v (the paper's minimum).
/// </summary>
public sealed record LoraConfig
{
    /// <summary>Every module name a target may use: attention q/k/v/o and the MLP projections.</summary>
    public static readonly IReadOnlyList<string> KnownTargets =
        ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

    /// <summary>Rank r of the update B·A (A: [r, in], B: [out, r]).</summary>
    public int Rank { get; init; } = 8;

    /// <summary>Scaling numerator α: the update is (α/r)·B·A, or (α/√r)·B·A with <see cref="UseRslora"/>.</summary>
    public double Alpha { get; init; } = 16;

    /// <summary>Dropout on the input of the LoRA path only (training only); the frozen path sees the input as it is.</summary>
    public double Dropout { get; init; } = 0.05;

    /// <summary>Our module names that get adapters, e.g. <c>["q_proj", "v_proj"]</c>.</summary>
    public IReadOnlyList<string> Targets { get; init; } = ["q_proj", "v_proj"];

    /// <summary>Block indices that get adapters; null means every block.</summary>
    public IReadOnlyList<int>? Layers { get; init; }

    /// <summary>Rank-stabilised LoRA (Kalajdzievski 2023): scale α/√r instead of α/r.</summary>
    public bool UseRslora { get; init; }

    /// <summary>
    /// DoRA (Liu et al. 2024, "Weight-Decomposed Low-Rank Adaptation"): the adapted weight is m ⊙ (W + s·B·A) /
    /// ‖W + s·B·A‖ with a trained magnitude m per output feature (initialised to W's row norms) and the norm taken
    /// as a constant in backward (§4.3), as PEFT's <c>use_dora</c>.
    /// </summary>
    public bool UseDora { get; init; }

    /// <summary>
    /// The frozen base weights of the adapted projections in memory (QLoRA, Dettmers et al. 2023): "none" (float32),
    /// "int8" (per-channel absmax) or "nf4" (NormalFloat4, blocks of 64, double-quantized absmax).
    /// </summary>
    public string QuantizeBase { get; init; } = "none";

    /// <summary>The factor applied to B·A: α/r, or α/√r with <see cref="UseRslora"/>.</summary>
    public double Scale => UseRslora ? Alpha / Math.Sqrt(Rank) : Alpha / Rank;

    /// <summary>Whether the projection <paramref name="name"/> of block <paramref name="layer"/> gets an adapter.</summary>
    public bool Applies(string name, int layer) =>
        Targets.Contains(name, StringComparer.Ordinal) && (Layers is null || Layers.Contains(layer));

    /// <summary>Checks every setting; throws an <see cref="ArgumentException"/> naming the offending recipe key.</summary>
    public void Validate()
    {
        if (Rank <= 0)
            throw new ArgumentException($"lora.rank ({Rank}) must be positive.");
        if (!(Alpha > 0) || double.IsInfinity(Alpha))
            throw new ArgumentException($"lora.alpha ({Alpha}) must be a positive number.");
        if (Dropout is < 0 or >= 1 || double.IsNaN(Dropout))
            throw new ArgumentException($"lora.dropout ({Dropout}) must be in [0, 1).");
        if (Targets is null || Targets.Count == 0)
            throw new ArgumentException($"lora.targets is empty; name the projections to adapt, e.g. [q_proj, v_proj] (known: {string.Join(", ", KnownTargets)}).");
        foreach (var t in Targets)
        {
            if (!KnownTargets.Contains(t, StringComparer.Ordinal))
                throw new ArgumentException($"lora.targets names '{t}', which is not a projection of our models; use {string.Join(", ", KnownTargets)}.");
        }
        if (QuantizeBase is not ("none" or "int8" or "nf4"))
            throw new ArgumentException($"lora.quantize_base '{QuantizeBase}' is not known; use none, int8 or nf4.");
        if (Layers is not null)
        {
            if (Layers.Count == 0)
                throw new ArgumentException("lora.layers is empty; leave it out to adapt every block.");
            foreach (var l in Layers)
            {
                if (l < 0)
                    throw new ArgumentException($"lora.layers holds {l}; block indices start at 0.");
            }
        }
    }

    /// <summary>Checks the settings against a model of <paramref name="numLayers"/> blocks.</summary>
    internal void Validate(int numLayers)
    {
        Validate();
        if (Layers?.FirstOrDefault(l => l >= numLayers, -1) is int bad and >= 0)
            throw new ArgumentException($"lora.layers holds {bad}, but the model has {numLayers} blocks (0 to {numLayers - 1}).");
    }
}
