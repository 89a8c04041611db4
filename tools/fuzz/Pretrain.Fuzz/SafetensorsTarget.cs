using System.Buffers.Binary;
using System.Text;
using Pretrain.Models.Weights;
using static TorchSharp.torch;

namespace Pretrain.Fuzz;

/// <summary>safetensors: the JSON header (dtypes, shapes, offsets, metadata), its length prefix, and the data bytes.</summary>
public sealed class SafetensorsTarget : IFuzzTarget
{
    private static readonly string[] Strings = ["F32", "F16", "BF16", "I64", "I32", "U8", "BOOL", "F64", "", "x", "__metadata__", "a"];
    private byte[] _seed = [];

    public string Name => "safetensors";

    public void Prepare(string workDir)
    {
        string path = Path.Combine(workDir, "seed.safetensors");
        using (var a = arange(6, ScalarType.Float32).reshape(2, 3))
        using (var b = arange(4, ScalarType.Int64))
        using (var c = ones(3, ScalarType.Float16))
        {
            Safetensors.Save(path, new Dictionary<string, Tensor> { ["a"] = a, ["b"] = b, ["c"] = c }, new Dictionary<string, string> { ["format"] = "pt" });
        }

        _seed = File.ReadAllBytes(path);
    }

    public FuzzInput Next(Random random)
    {
        byte[] bytes;
        if (random.Next(3) == 0)
        {
            bytes = Mutate.Bytes(random, _seed);
        }
        else
        {
            int length = (int)BinaryPrimitives.ReadUInt64LittleEndian(_seed);
            string header = Encoding.UTF8.GetString(_seed, 8, length);
            byte[] json = Encoding.UTF8.GetBytes(Mutate.Json(random, header, Strings));
            byte[] data = _seed[(8 + length)..];
            ulong prefix = random.Next(8) == 0 ? (ulong)Mutate.Integer(random, json.Length) : (ulong)json.Length;
            bytes = [.. BitConverter.GetBytes(prefix), .. json, .. data];
        }

        return new FuzzInput(new Dictionary<string, byte[]> { ["model.safetensors"] = bytes }, []);
    }

    public void Run(FuzzInput input, string dir)
    {
        string path = Path.Combine(dir, "model.safetensors");
        Safetensors.ReadMetadata(path);
        foreach (var t in Safetensors.Load(path).Values)
            t.Dispose();
    }

    public IReadOnlyList<string> Names(FuzzInput input) => ["model.safetensors"];
}
