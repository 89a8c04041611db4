using System.Buffers.Binary;
using System.Text;
using Pretrain.Models.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Models.Tests.Weights;

[Collection("torch")]
public sealed class SafetensorsTests
{
    [Fact]
    public void Round_trip_keeps_dtype_shape_values_and_metadata()
    {
        using var dir = new TempDir();
        using var scope = torch.NewDisposeScope();
        var source = torch.randn(5, 7);
        var tensors = new Dictionary<string, Tensor>
        {
            ["b.f32"] = source,
            ["a.bf16"] = source.to_type(ScalarType.BFloat16),
            ["c.f16"] = source.to_type(ScalarType.Float16),
            ["d.i64"] = torch.arange(-3, 9, dtype: ScalarType.Int64).view(3, 4),
            ["e.f64"] = torch.randn(2, dtype: ScalarType.Float64),
            ["f.i32"] = torch.tensor(new[] { int.MinValue, 0, int.MaxValue }),
            ["g.i16"] = torch.tensor(new short[] { -2, 7 }),
            ["h.i8"] = torch.tensor(new sbyte[] { -128, 127 }),
            ["i.u8"] = torch.tensor(new byte[] { 0, 255, 3 }),
            ["j.bool"] = torch.tensor(new[] { true, false, true }),
            ["k.scalar"] = torch.tensor(3.5f),
            ["l.empty"] = torch.zeros(0, 4),
            ["m.transposed"] = source.t(), // not contiguous
        };
        var path = dir.File("x.safetensors");
        var saved = Safetensors.ChunkBytes;
        Safetensors.ChunkBytes = 8; // several chunks per tensor: exercises the streamed copy
        try
        {
            Safetensors.Save(path, tensors, new Dictionary<string, string> { ["format"] = "pt", ["step"] = "12" });
            var loaded = Safetensors.Load(path);
            Assert.Equal(tensors.Keys.Order(), loaded.Keys.Order());
            foreach (var (name, expected) in tensors)
            {
                var actual = loaded[name];
                Assert.Equal(expected.dtype, actual.dtype);
                Assert.Equal(expected.shape, actual.shape);
                Assert.True(expected.equal(actual).all().item<bool>(), name);
            }
            foreach (var t in loaded.Values)
                t.Dispose();
        }
        finally
        {
            Safetensors.ChunkBytes = saved;
        }
        Assert.Equal("12", Safetensors.ReadMetadata(path)["step"]);
        Assert.False(File.Exists(path + ".tmp"));

        // Header: padded with spaces to 8 bytes, sorted keys, metadata first.
        var bytes = File.ReadAllBytes(path);
        var n = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.Equal(0, n % 8);
        var header = Encoding.UTF8.GetString(bytes, 8, n);
        Assert.StartsWith("{\"__metadata__\"", header, StringComparison.Ordinal);
        Assert.True(header.IndexOf("\"a.bf16\"", StringComparison.Ordinal) < header.IndexOf("\"b.f32\"", StringComparison.Ordinal));
        Assert.EndsWith("}", header.TrimEnd(' '), StringComparison.Ordinal);
    }

    [Fact]
    public void Bf16_bytes_are_the_upper_half_of_f32()
    {
        using var dir = new TempDir();
        var path = dir.File("one.safetensors");
        using var t = torch.tensor(new[] { 1.0f, -2.0f }).to_type(ScalarType.BFloat16);
        Safetensors.Save(path, new Dictionary<string, Tensor> { ["w"] = t });
        var bytes = File.ReadAllBytes(path);
        Assert.Equal(new byte[] { 0x80, 0x3f, 0x00, 0xc0 }, bytes[^4..]);
    }

    [Fact]
    public void Truncated_file_is_a_clear_error()
    {
        using var dir = new TempDir();
        var path = WriteValid(dir);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^4]);
        var e = Assert.Throws<WeightsException>(() => Safetensors.Load(path));
        Assert.Contains(path, e.Message, StringComparison.Ordinal);
        Assert.Contains("truncated", e.Message, StringComparison.Ordinal);
        File.WriteAllBytes(path, bytes[..5]);
        Assert.Contains("only 5 bytes", Assert.Throws<WeightsException>(() => Safetensors.Load(path)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Header_length_beyond_the_file_is_a_clear_error()
    {
        using var dir = new TempDir();
        var path = dir.File("bad.safetensors");
        var bytes = new byte[64];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, 1000);
        File.WriteAllBytes(path, bytes);
        Assert.Contains("1000-byte header", Assert.Throws<WeightsException>(() => Safetensors.Load(path)).Message, StringComparison.Ordinal);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, ulong.MaxValue);
        File.WriteAllBytes(path, bytes);
        Assert.Contains("100 MB", Assert.Throws<WeightsException>(() => Safetensors.Load(path)).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""", 12, "overlapping tensors 'a' and 'b'")]
    [InlineData("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}}""", 20, "gap of 4 unused bytes before tensor 'b'")]
    [InlineData("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", 12, "tensors cover 8 bytes")]
    [InlineData("""{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}""", 8, "needs 12")]
    [InlineData("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", 4, "beyond the 4-byte data section")]
    [InlineData("""{"w.scale":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}}""", 4, "tensor 'w.scale' has dtype F8_E4M3, which Pretrain cannot read")]
    [InlineData("""{"a":{"dtype":"F32","shape":[2]}}""", 8, "without the \"dtype\", \"shape\" and \"data_offsets\"")]
    [InlineData("""{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}""", 8, "shape entry that is not a non-negative integer")]
    [InlineData("""{"a": nope}""", 8, "not valid JSON")]
    [InlineData("""[1, 2]""", 8, "not a JSON object")]
    [InlineData("""{"__metadata__":{"k":1}}""", 0, "__metadata__ value 'k' that is not a string")]
    public void Invalid_header_is_a_clear_error(string header, int dataBytes, string message)
    {
        using var dir = new TempDir();
        var path = dir.File("bad.safetensors");
        WriteRaw(path, header, dataBytes);
        var e = Assert.Throws<WeightsException>(() => Safetensors.Load(path));
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
        Assert.Contains(path, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_file_is_a_weights_error()
    {
        var e = Assert.Throws<WeightsException>(() => Safetensors.Load("/nonexistent/model.safetensors"));
        Assert.Contains("/nonexistent/model.safetensors", e.Message, StringComparison.Ordinal);
    }

    private static string WriteValid(TempDir dir)
    {
        var path = dir.File("ok.safetensors");
        using var a = torch.ones(3, 3);
        using var b = torch.zeros(2);
        Safetensors.Save(path, new Dictionary<string, Tensor> { ["a"] = a, ["b"] = b });
        return path;
    }

    private static void WriteRaw(string path, string header, int dataBytes)
    {
        var json = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + json.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)json.Length);
        json.CopyTo(bytes, 8);
        File.WriteAllBytes(path, bytes);
    }
}
