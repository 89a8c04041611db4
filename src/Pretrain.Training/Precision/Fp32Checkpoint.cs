using System.Buffers.Binary;
using System.Text.Json;
using Pretrain.Models.Weights;
using static TorchSharp.torch;

namespace Pretrain.Training.Precision;

/// <summary>
/// The rule that a checkpoint's model files hold fp32 weights whatever dtype training holds them in (pure bf16,
/// a bf16 LoRA base): after the task has written its files, every bf16/fp16 tensor in them is rewritten as fp32.
/// The upcast is exact (each bf16 or fp16 value is an fp32 value), so loading the file back into a bf16 parameter
/// (<c>copy_</c> rounds to nearest) gives the same bits: resuming is exact, and Hugging Face loads the files as
/// today. Files whose header lists no lower-precision tensor (every fp32 run) are only read up to their header.
/// </summary>
public static class Fp32Checkpoint
{
    private static readonly string[] LowerPrecision = ["BF16", "F16"];

    /// <summary>Upcasts the *.safetensors files directly in <paramref name="dir"/>, except <paramref name="keep"/> (file names).</summary>
    public static void Upcast(string dir, params string[] keep)
    {
        foreach (var path in Directory.EnumerateFiles(dir, "*.safetensors").Order(StringComparer.Ordinal))
        {
            if (keep.Contains(Path.GetFileName(path), StringComparer.Ordinal) || !HasLowerPrecision(path)) continue;
            using var scope = NewDisposeScope();
            var metadata = Safetensors.ReadMetadata(path);
            var tensors = Safetensors.Load(path);
            var wide = tensors.ToDictionary(kv => kv.Key,
                kv => kv.Value.dtype is ScalarType.BFloat16 or ScalarType.Float16 ? kv.Value.to_type(ScalarType.Float32) : kv.Value,
                StringComparer.Ordinal);
            Safetensors.Save(path, wide, metadata);
        }
    }

    /// <summary>Whether the header of a safetensors file lists a bf16 or fp16 tensor (reads only the header).</summary>
    public static bool HasLowerPrecision(string path)
    {
        using var file = File.OpenRead(path);
        Span<byte> length = stackalloc byte[8];
        file.ReadExactly(length);
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(length);
        if (n > (ulong)(file.Length - 8)) throw new InvalidDataException($"{path}: the safetensors header length {n} exceeds the file.");
        var header = new byte[n];
        file.ReadExactly(header);
        using var json = JsonDocument.Parse(header);
        foreach (var entry in json.RootElement.EnumerateObject())
        {
            if (entry.Name == "__metadata__") continue;
            if (entry.Value.TryGetProperty("dtype", out var dtype) && LowerPrecision.Contains(dtype.GetString())) return true;
        }
        return false;
    }
}
