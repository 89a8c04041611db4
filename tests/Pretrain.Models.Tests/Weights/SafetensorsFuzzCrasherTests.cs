using System.Text;
using Pretrain.Models.Weights;

namespace Pretrain.Models.Tests.Weights;

/// <summary>A safetensors header tools/fuzz found crashing: invalid UTF-8 inside a JSON string.</summary>
[Collection("torch")]
public sealed class SafetensorsFuzzCrasherTests
{
    [Fact]
    public void A_header_with_invalid_utf8_is_refused_naming_the_file()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "model.safetensors");
        byte[] header = [.. Encoding.ASCII.GetBytes("{\"a"), 0xC3, 0x28, .. Encoding.ASCII.GetBytes("\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}")];
        File.WriteAllBytes(path, [.. BitConverter.GetBytes((ulong)header.Length), .. header, 0, 0, 0, 0]);
        var e = Assert.Throws<WeightsException>(() => Safetensors.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("UTF-8", e.Message);
    }
}
