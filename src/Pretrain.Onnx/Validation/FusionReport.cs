namespace Pretrain.Onnx.Validation;

/// <summary>
/// validation.json's <c>optimization</c> section (<c>pretrain export … --optimize</c>): the com.microsoft operators
/// in the export by type, and the fused export against the plain one in ONNX Runtime, per shape and output, by the
/// export's tolerance rule (<see cref="FusedCheck"/>).
/// </summary>
public sealed record FusionReport
{
    /// <summary>How many of each com.microsoft operator the export holds (Attention, SkipLayerNormalization, …).</summary>
    public required IReadOnlyDictionary<string, int> FusedOps { get; init; }

    /// <summary>What is left unfused and why (e.g. llama attention), empty when everything applicable is fused.</summary>
    public required IReadOnlyList<string> Notes { get; init; }

    /// <summary>The fused export against the plain one (ORT vs ORT); empty when not validated.</summary>
    public required IReadOnlyList<ValidationShape> AgainstPlain { get; init; }

    /// <summary>Largest |fused − plain| over every compared value.</summary>
    public double MaxAbsDiff => AgainstPlain.Count == 0 ? 0 : AgainstPlain.Max(s => s.MaxAbsDiff);
}
