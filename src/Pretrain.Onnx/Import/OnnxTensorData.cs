using System.Buffers.Binary;
using System.Globalization;
using Pretrain.Onnx.Proto;
using TorchSharp;
using static Pretrain.Onnx.Proto.TensorProto.Types;
using static TorchSharp.torch;

namespace Pretrain.Onnx.Import;

/// <summary>
/// Decodes an ONNX <c>TensorProto</c>: inline <c>raw_data</c> (little-endian), the typed repeated fields
/// (<c>float_data</c>; <c>int32_data</c> for fp16/bf16/int32; <c>int64_data</c>; <c>double_data</c>), or external data
/// (<c>location</c>/<c>offset</c>/<c>length</c> relative to the model's folder). Sizes are checked against the shape.
/// </summary>
internal sealed class OnnxTensorData(string source, string? baseDirectory)
{
    /// <summary>The tensor as a float32 CPU tensor (fp32, fp16, bf16 and fp64 are accepted).</summary>
    public Tensor Float32(TensorProto t)
    {
        var type = (DataType)t.DataType;
        var shape = t.Dims.ToArray();
        var n = Numel(t);
        var scalar = type switch
        {
            DataType.Float => ScalarType.Float32,
            DataType.Float16 => ScalarType.Float16,
            DataType.Bfloat16 => ScalarType.BFloat16,
            DataType.Double => ScalarType.Float64,
            _ => throw new OnnxImportException($"{source}: initializer '{t.Name}' has element type {type}; only float32, float16, bfloat16 and float64 weights can be imported."),
        };
        var bytes = Bytes(t, n, scalar == ScalarType.Float64 ? 8 : scalar == ScalarType.Float32 ? 4 : 2); // checks the length first
        var tensor = torch.empty(shape, scalar);
        try
        {
            bytes.CopyTo(tensor.bytes);
            if (scalar == ScalarType.Float32)
                return tensor;
            using (tensor)
                return tensor.to_type(ScalarType.Float32);
        }
        catch
        {
            tensor.Dispose();
            throw;
        }
    }

    /// <summary>Values of a small numeric tensor as doubles (float, double, fp16, int32, int64); null for other types.</summary>
    public double[]? Values(TensorProto t)
    {
        var type = (DataType)t.DataType;
        var n = Numel(t);
        if (n > 1 << 16)
            return null;
        switch (type)
        {
            case DataType.Float when t.FloatData.Count == n && n > 0:
                return t.FloatData.Select(f => (double)f).ToArray();
            case DataType.Int64 when t.Int64Data.Count == n && n > 0:
                return t.Int64Data.Select(v => (double)v).ToArray();
            case DataType.Int32 when t.Int32Data.Count == n && n > 0:
                return t.Int32Data.Select(v => (double)v).ToArray();
            case DataType.Double when t.DoubleData.Count == n && n > 0:
                return t.DoubleData.ToArray();
        }
        var size = type switch
        {
            DataType.Float or DataType.Int32 => 4,
            DataType.Int64 or DataType.Double => 8,
            DataType.Float16 => 2,
            _ => 0,
        };
        if (size == 0)
            return null;
        var raw = Bytes(t, n, size);
        var values = new double[n];
        for (var i = 0; i < n; i++)
        {
            var s = raw.Slice(i * size, size);
            values[i] = type switch
            {
                DataType.Float => BinaryPrimitives.ReadSingleLittleEndian(s),
                DataType.Int32 => BinaryPrimitives.ReadInt32LittleEndian(s),
                DataType.Int64 => BinaryPrimitives.ReadInt64LittleEndian(s),
                DataType.Double => BinaryPrimitives.ReadDoubleLittleEndian(s),
                _ => (double)BinaryPrimitives.ReadHalfLittleEndian(s),
            };
        }
        return values;
    }

    private long Numel(TensorProto t)
    {
        long n = 1;
        foreach (var d in t.Dims)
        {
            if (d < 0)
                throw new OnnxImportException($"{source}: initializer '{t.Name}' has a negative dimension ({d}).");
            if (d > 0 && n > long.MaxValue / 8 / d)
                throw new OnnxImportException($"{source}: initializer '{t.Name}' has dimensions [{string.Join(", ", t.Dims)}] whose product overflows; the model is damaged.");
            n *= d;
        }
        return n;
    }

    /// <summary>The little-endian bytes of <paramref name="n"/> elements of <paramref name="size"/> bytes.</summary>
    private ReadOnlySpan<byte> Bytes(TensorProto t, long n, int size)
    {
        var expected = checked(n * size);
        if (t.DataLocation == DataLocation.External)
            return External(t, expected);
        if (!t.RawData.IsEmpty)
        {
            if (t.RawData.Length != expected)
                throw new OnnxImportException($"{source}: initializer '{t.Name}' holds {t.RawData.Length} bytes of raw_data, its shape [{string.Join(", ", t.Dims)}] needs {expected}; the file is damaged.");
            return t.RawData.Span;
        }
        var type = (DataType)t.DataType;
        var data = new byte[expected];
        long count = type switch
        {
            DataType.Float => t.FloatData.Count,
            DataType.Double => t.DoubleData.Count,
            DataType.Int64 => t.Int64Data.Count,
            _ => t.Int32Data.Count,
        };
        if (count != n)
            throw new OnnxImportException($"{source}: initializer '{t.Name}' holds {count} values, its shape [{string.Join(", ", t.Dims)}] needs {n}; the file is damaged.");
        for (var i = 0; i < n; i++)
        {
            var s = data.AsSpan(i * size, size);
            switch (type)
            {
                case DataType.Float: BinaryPrimitives.WriteSingleLittleEndian(s, t.FloatData[i]); break;
                case DataType.Double: BinaryPrimitives.WriteDoubleLittleEndian(s, t.DoubleData[i]); break;
                case DataType.Int64: BinaryPrimitives.WriteInt64LittleEndian(s, t.Int64Data[i]); break;
                case DataType.Int32: BinaryPrimitives.WriteInt32LittleEndian(s, t.Int32Data[i]); break;
                default: BinaryPrimitives.WriteUInt16LittleEndian(s, (ushort)t.Int32Data[i]); break; // fp16/bf16 bits
            }
        }
        return data;
    }

    private byte[] External(TensorProto t, long expected)
    {
        var entries = t.ExternalData.ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal);
        if (!entries.TryGetValue("location", out var location) || string.IsNullOrEmpty(location))
            throw new OnnxImportException($"{source}: initializer '{t.Name}' is stored externally but names no location.");
        if (baseDirectory is null)
            throw new OnnxImportException($"{source}: initializer '{t.Name}' is stored in external file '{location}', which cannot be found for a model read from memory; import the .onnx file from its folder.");
        if (Path.IsPathRooted(location) || location.Replace('\\', '/').Split('/').Contains(".."))
            throw new OnnxImportException($"{source}: initializer '{t.Name}' points outside the model's folder ('{location}'); refusing to read it.");
        var offset = entries.TryGetValue("offset", out var o) ? long.Parse(o, CultureInfo.InvariantCulture) : 0;
        var length = entries.TryGetValue("length", out var l) ? long.Parse(l, CultureInfo.InvariantCulture) : expected;
        if (length != expected)
            throw new OnnxImportException($"{source}: initializer '{t.Name}' has external length {length}, its shape needs {expected} bytes.");
        var path = Path.Combine(baseDirectory, location);
        if (!File.Exists(path))
            throw new OnnxImportException($"{source}: initializer '{t.Name}' is stored in {path}, which does not exist; keep the external data file beside the .onnx file.");
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        if (offset < 0 || offset + length > file.Length)
            throw new OnnxImportException($"{source}: initializer '{t.Name}' lies at bytes {offset}..{offset + length} of {path}, which has only {file.Length}; the file is truncated.");
        var data = new byte[length];
        file.Position = offset;
        file.ReadExactly(data);
        return data;
    }
}
