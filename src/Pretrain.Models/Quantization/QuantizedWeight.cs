using static TorchSharp.torch;

namespace Pretrain.Models.Quantization;

/// <summary>
/// A frozen linear weight (out, in) held quantized in memory (<see cref="Int8Weight"/>, <see cref="Nf4Weight"/>) and
/// dequantized to float32 when the forward pass needs it. Owns its tensors.
/// </summary>
public abstract class QuantizedWeight : IDisposable
{
    /// <summary>Shape of the original weight.</summary>
    public required long[] Shape { get; init; }

    /// <summary>Bytes the quantized form holds (codes, scales, offsets): the memory it costs.</summary>
    public abstract long Bytes { get; }

    /// <summary>The weight as float32 (out, in), on the device of the stored codes.</summary>
    public abstract Tensor Dequantize();

    /// <summary>Quantizes <paramref name="weight"/> by <paramref name="kind"/>: "int8" or "nf4".</summary>
    public static QuantizedWeight Create(Tensor weight, string kind) => kind switch
    {
        "int8" => Int8Weight.Quantize(weight),
        "nf4" => Nf4Weight.Quantize(weight),
        _ => throw new ArgumentException($"lora.quantize_base '{kind}' is not known; use none, int8 or nf4."),
    };

    public abstract void Dispose();
}
