using System.Text.Encodings.Web;
using System.Text.Json;

namespace Pretrain.Onnx.Validation;

/// <summary>
/// What <c>validation.json</c> in an export folder says: opset, ONNX Runtime version, weight dtype, the tolerance and
/// its rule (max |ORT − TorchSharp| ≤ tolerance · max(1, max |logit|) per shape), each shape's result, and the verdict.
/// </summary>
public sealed record ValidationReport
{
    /// <summary>snake_case JSON, indented.</summary>
    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, // "<=" stays readable
    };

    /// <summary>Opset of the default domain.</summary>
    public required int Opset { get; init; }

    /// <summary>ONNX Runtime version that ran the check (empty when not validated).</summary>
    public required string OrtVersion { get; init; }

    /// <summary>"fp32" or "fp16" weight storage.</summary>
    public required string Dtype { get; init; }

    /// <summary>Whether the export has the key/value cache inputs and outputs.</summary>
    public required bool WithPast { get; init; }

    /// <summary>Whether model.onnx_data holds the weights.</summary>
    public required bool ExternalData { get; init; }

    /// <summary>Relative tolerance (see the rule).</summary>
    public required double Tolerance { get; init; }

    /// <summary>How the tolerance is applied.</summary>
    public string ToleranceRule { get; init; } = "max_abs_diff <= tolerance * max(1, max_abs_logit)";

    /// <summary>Whether the check ran (false after --no-validate).</summary>
    public required bool Validated { get; init; }

    /// <summary>Per-shape results.</summary>
    public required IReadOnlyList<ValidationShape> Shapes { get; init; }

    /// <summary>An int8 export's check against the float export (<c>--quantize int8</c>); absent otherwise.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public QuantizationReport? Quantization { get; init; }

    /// <summary>A fused export's operators and its check against the plain export (<c>--optimize</c>); absent otherwise.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public FusionReport? Optimization { get; init; }

    /// <summary>
    /// Every shape within tolerance, an int8 export at or above its agreement threshold, and a fused export within
    /// tolerance of the plain one (false when not validated).
    /// </summary>
    public bool Passed => Validated && Shapes.All(s => s.Passed) && (Quantization is null || Quantization.Agreement >= Quantization.MinAgreement)
        && (Optimization is null || Optimization.AgainstPlain.All(s => s.Passed));

    /// <summary>Writes the report as JSON.</summary>
    public void Save(string path) => File.WriteAllText(path, JsonSerializer.Serialize(this, Json) + "\n");
}
