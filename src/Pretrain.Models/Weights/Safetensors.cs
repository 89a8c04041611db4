using System.Buffers;
using System.Buffers.Binary;
using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Models.Weights;

/// <summary>
/// Reads and writes the safetensors format (Hugging Face): 8-byte little-endian header length, a JSON header
/// <c>{name: {dtype, shape, data_offsets}, "__metadata__": {str: str}}</c>, then the raw little-endian, row-major
/// bytes. Tensor data is streamed in chunks, never held twice in memory.
/// </summary>
public static class Safetensors
{
    /// <summary>Largest piece of one tensor copied at a time (small in tests, to exercise the chunking).</summary>
    internal static int ChunkBytes { get; set; } = 64 << 20;

    /// <summary>
    /// Writes <paramref name="tensors"/> (copied to CPU, made contiguous) in sorted key order, the header padded with
    /// spaces to a multiple of 8 bytes. The file appears complete or not at all: written to <c>path.tmp</c>,
    /// flushed, then renamed over <paramref name="path"/>.
    /// </summary>
    public static void Save(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        CheckLittleEndian();
        var names = tensors.Keys.Order(StringComparer.Ordinal).ToList();
        if (names.Contains("__metadata__"))
            throw new WeightsException($"Cannot write {path}: '__metadata__' is reserved and cannot name a tensor.");
        var header = Header(names, tensors, metadata);
        var tmp = path + ".tmp";
        using (var file = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
        {
            Span<byte> length = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
            file.Write(length);
            file.Write(header);
            foreach (var name in names)
            {
                // One tensor's CPU/contiguous copy at a time; freed before the next.
                using var scope = torch.NewDisposeScope();
                var cpu = tensors[name].detach().cpu().contiguous();
                foreach (var chunk in Chunks(cpu))
                {
                    using (chunk)
                        file.Write(chunk.bytes);
                }
            }
            file.Flush(flushToDisk: true);
        }
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>
    /// Reads every tensor of a safetensors file onto the CPU, after validating the whole header
    /// (a <see cref="WeightsException"/> names the file, the tensor and the problem).
    /// </summary>
    public static Dictionary<string, Tensor> Load(string path)
    {
        CheckLittleEndian();
        using var file = Open(path);
        var header = SafetensorsHeader.Read(file, path);
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var entry in header.Entries)
            {
                var tensor = torch.empty(entry.Shape, entry.Type);
                result.Add(entry.Name, tensor);
                file.Position = header.DataStart + entry.Begin;
                foreach (var chunk in Chunks(tensor))
                {
                    using (chunk)
                        file.ReadExactly(chunk.bytes);
                }
            }
        }
        catch
        {
            foreach (var t in result.Values)
                t.Dispose();
            throw;
        }
        return result;
    }

    /// <summary>The <c>__metadata__</c> map of a safetensors file (empty when it has none); reads only the header.</summary>
    public static IReadOnlyDictionary<string, string> ReadMetadata(string path)
    {
        using var file = Open(path);
        return SafetensorsHeader.Read(file, path).Metadata;
    }

    private static FileStream Open(string path)
    {
        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException)
        {
            throw new WeightsException($"Cannot open safetensors file {path}: {e.Message}", e);
        }
    }

    private static byte[] Header(List<string> names, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject("__metadata__");
                foreach (var (key, value) in metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                    json.WriteString(key, value);
                json.WriteEndObject();
            }
            long offset = 0;
            foreach (var name in names)
            {
                var t = tensors[name];
                var bytes = t.numel() * t.element_size();
                json.WriteStartObject(name);
                json.WriteString("dtype", SafetensorsDtype.NameOf(t.dtype));
                json.WriteStartArray("shape");
                foreach (var d in t.shape)
                    json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + bytes);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += bytes;
            }
            json.WriteEndObject();
        }
        var padded = (buffer.WrittenCount + 7) / 8 * 8;
        var header = new byte[padded];
        buffer.WrittenSpan.CopyTo(header);
        header.AsSpan(buffer.WrittenCount).Fill((byte)' ');
        return header;
    }

    /// <summary>Contiguous 1-D views over a contiguous CPU tensor, each at most <see cref="ChunkBytes"/> long.</summary>
    private static IEnumerable<Tensor> Chunks(Tensor contiguous)
    {
        using var flat = contiguous.view(-1); // (N,) shares storage
        var n = flat.shape[0];
        var step = Math.Max(1, ChunkBytes / contiguous.element_size());
        for (long start = 0; start < n; start += step)
            yield return flat.narrow(0, start, Math.Min(step, n - start));
    }

    private static void CheckLittleEndian()
    {
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("safetensors I/O here assumes a little-endian machine.");
    }
}
