namespace Pretrain.Models.Text;

/// <summary>
/// RoPE frequency scaling for contexts longer than the model was pretrained on, as a config.json <c>rope_scaling</c>
/// object gives it. <c>linear</c> (position interpolation, Chen et al. 2023) divides every inverse frequency by
/// <see cref="Factor"/>; <c>llama3</c> (Meta's Llama 3.1 release) divides only the low frequencies, keeps the high ones
/// and blends the band between (see <see cref="Modules.RotaryEmbedding.InverseFrequencies"/>).
/// </summary>
public sealed record RopeScaling
{
    /// <summary>config.json <c>rope_type</c>: "linear" or "llama3".</summary>
    public required string Type { get; init; }

    /// <summary>How much longer the context is than <see cref="OriginalMaxPositions"/> (<c>factor</c>).</summary>
    public required double Factor { get; init; }

    /// <summary>llama3 <c>low_freq_factor</c>: wavelengths above original/low are divided by <see cref="Factor"/>.</summary>
    public double LowFreqFactor { get; init; } = 1;

    /// <summary>llama3 <c>high_freq_factor</c>: wavelengths below original/high are kept.</summary>
    public double HighFreqFactor { get; init; } = 4;

    /// <summary>llama3 <c>original_max_position_embeddings</c>: the pretraining context length.</summary>
    public int OriginalMaxPositions { get; init; } = 8192;

    /// <summary>Checks every setting; throws an <see cref="ArgumentException"/> naming the offending key.</summary>
    public void Validate()
    {
        if (Type is not ("linear" or "llama3"))
            throw new ArgumentException($"rope_scaling.rope_type '{Type}' is not implemented; Pretrain has linear and llama3.");
        if (!(Factor >= 1) || double.IsInfinity(Factor))
            throw new ArgumentException($"rope_scaling.factor ({Factor}) must be a finite number ≥ 1.");
        if (Type != "llama3")
            return;
        if (!(LowFreqFactor > 0) || !(HighFreqFactor > LowFreqFactor) || double.IsInfinity(HighFreqFactor))
            throw new ArgumentException($"rope_scaling needs 0 < low_freq_factor ({LowFreqFactor}) < high_freq_factor ({HighFreqFactor}).");
        if (OriginalMaxPositions <= 0)
            throw new ArgumentException($"rope_scaling.original_max_position_embeddings ({OriginalMaxPositions}) must be positive.");
    }
}
