using static TorchSharp.torch;

namespace Pretrain.Models.Weights;

/// <summary>The safetensors dtype names Pretrain reads and writes, and their torch types.</summary>
internal static class SafetensorsDtype
{
    private static readonly (string Name, ScalarType Type, int Size)[] Known =
    [
        ("F64", ScalarType.Float64, 8), ("F32", ScalarType.Float32, 4), ("F16", ScalarType.Float16, 2),
        ("BF16", ScalarType.BFloat16, 2), ("I64", ScalarType.Int64, 8), ("I32", ScalarType.Int32, 4),
        ("I16", ScalarType.Int16, 2), ("I8", ScalarType.Int8, 1), ("U8", ScalarType.Byte, 1), ("BOOL", ScalarType.Bool, 1),
    ];

    /// <summary>The names, for messages.</summary>
    public static string Supported => string.Join(" ", Known.Select(k => k.Name));

    public static bool TryParse(string name, out ScalarType type, out int size)
    {
        foreach (var k in Known)
        {
            if (k.Name == name)
            {
                (type, size) = (k.Type, k.Size);
                return true;
            }
        }
        (type, size) = (default, 0);
        return false;
    }

    public static string NameOf(ScalarType type)
    {
        foreach (var k in Known)
        {
            if (k.Type == type)
                return k.Name;
        }
        throw new WeightsException($"Tensors of dtype {type} cannot be written to safetensors by Pretrain (supported: {Supported}).");
    }
}
