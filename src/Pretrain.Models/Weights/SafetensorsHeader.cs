using System.Buffers.Binary;
using System.Text.Json;
using static TorchSharp.torch;

namespace Pretrain.Models.Weights;

/// <summary>One tensor's entry in a safetensors header: where its bytes lie in the data section.</summary>
internal sealed record SafetensorsEntry(string Name, ScalarType Type, long[] Shape, long Begin, long End);

/// <summary>
/// A parsed and validated safetensors header (format: 8-byte little-endian length N, N bytes of JSON, then the
/// data section). Validation follows the reference reader: header length sane, JSON an object, known dtypes,
/// offsets in bounds, sized as shape × dtype, non-overlapping and covering the data section exactly.
/// </summary>
internal sealed class SafetensorsHeader
{
    /// <summary>The reference implementation's cap on the header size.</summary>
    public const long MaxHeaderBytes = 100_000_000;

    private SafetensorsHeader(List<SafetensorsEntry> entries, Dictionary<string, string> metadata, long dataStart)
    {
        Entries = entries;
        Metadata = metadata;
        DataStart = dataStart;
    }

    /// <summary>Entries ordered by their position in the data section.</summary>
    public List<SafetensorsEntry> Entries { get; }

    /// <summary>The free-form <c>__metadata__</c> map (empty when absent).</summary>
    public Dictionary<string, string> Metadata { get; }

    /// <summary>File offset of the data section.</summary>
    public long DataStart { get; }

    public static SafetensorsHeader Read(FileStream file, string path)
    {
        var fileLength = file.Length;
        if (fileLength < 8)
            throw Bad(path, $"has only {fileLength} bytes; a safetensors file starts with an 8-byte header length.");
        Span<byte> lengthBytes = stackalloc byte[8];
        file.ReadExactly(lengthBytes);
        var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
        if (headerLength > MaxHeaderBytes)
            throw Bad(path, $"declares a {headerLength}-byte header, above the 100 MB limit: it is not a safetensors file or is corrupt.");
        if (8 + (long)headerLength > fileLength)
            throw Bad(path, $"declares a {headerLength}-byte header but the file has only {fileLength} bytes: it is truncated or not a safetensors file.");
        var json = new byte[headerLength];
        file.ReadExactly(json);
        var dataStart = 8 + (long)headerLength;
        var (entries, metadata) = Parse(json, path, fileLength - dataStart);
        return new SafetensorsHeader(entries, metadata, dataStart);
    }

    private static readonly System.Text.UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private static (List<SafetensorsEntry>, Dictionary<string, string>) Parse(byte[] json, string path, long dataLength)
    {
        JsonDocument document;
        try
        {
            _ = StrictUtf8.GetCharCount(json); // JsonDocument defers UTF-8 checks of strings until they are read
            document = JsonDocument.Parse(json);
        }
        catch (System.Text.DecoderFallbackException e)
        {
            throw new WeightsException($"{path}: the safetensors header is not valid UTF-8. The file is corrupt or not safetensors.", e);
        }
        catch (JsonException e)
        {
            throw new WeightsException($"{path}: the safetensors header is not valid JSON ({e.Message}). The file is corrupt or not safetensors.", e);
        }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw Bad(path, "has a header that is not a JSON object.");
            var entries = new List<SafetensorsEntry>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (!seen.Add(property.Name))
                    throw Bad(path, $"names '{property.Name}' twice in its header.");
                if (property.Name == "__metadata__")
                    ReadMetadata(property.Value, path, metadata);
                else
                    entries.Add(ReadEntry(property.Name, property.Value, path, dataLength));
            }
            CheckLayout(entries, path, dataLength);
            return (entries, metadata);
        }
    }

    private static void ReadMetadata(JsonElement value, string path, Dictionary<string, string> metadata)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw Bad(path, "has a __metadata__ entry that is not a JSON object.");
        foreach (var item in value.EnumerateObject())
        {
            if (item.Value.ValueKind != JsonValueKind.String)
                throw Bad(path, $"has __metadata__ value '{item.Name}' that is not a string.");
            metadata[item.Name] = item.Value.GetString()!;
        }
    }

    private static SafetensorsEntry ReadEntry(string name, JsonElement value, string path, long dataLength)
    {
        if (value.ValueKind != JsonValueKind.Object
            || !value.TryGetProperty("dtype", out var dtype) || dtype.ValueKind != JsonValueKind.String
            || !value.TryGetProperty("shape", out var shapeJson) || shapeJson.ValueKind != JsonValueKind.Array
            || !value.TryGetProperty("data_offsets", out var offsets) || offsets.ValueKind != JsonValueKind.Array)
            throw Bad(path, $"has tensor '{name}' without the \"dtype\", \"shape\" and \"data_offsets\" it needs.");
        var dtypeName = dtype.GetString()!;
        if (!SafetensorsDtype.TryParse(dtypeName, out var type, out var size))
            throw new WeightsException(
                $"{path}: tensor '{name}' has dtype {dtypeName}, which Pretrain cannot read (supported: {SafetensorsDtype.Supported}). " +
                "Convert the checkpoint to one of these dtypes (e.g. with PyTorch: tensor.to(torch.bfloat16)) and try again.");
        var shape = shapeJson.EnumerateArray().Select(d => NonNegative(d, name, "shape", path)).ToArray();
        var range = offsets.EnumerateArray().Select(d => NonNegative(d, name, "data_offsets", path)).ToArray();
        if (range.Length != 2 || range[0] > range[1])
            throw Bad(path, $"has tensor '{name}' whose data_offsets are not [begin, end] with begin <= end.");
        if (range[1] > dataLength)
            throw Bad(path, $"has tensor '{name}' with data_offsets [{range[0]}, {range[1]}] beyond the {dataLength}-byte data section: the file is truncated or corrupt.");
        long bytes;
        try
        {
            bytes = checked(shape.Aggregate(1L, (a, b) => a * b) * size);
        }
        catch (OverflowException)
        {
            throw Bad(path, $"has tensor '{name}' with an impossible shape [{string.Join(", ", shape)}].");
        }
        if (range[1] - range[0] != bytes)
            throw Bad(path, $"has tensor '{name}' with {range[1] - range[0]} bytes of data, but shape [{string.Join(", ", shape)}] of {dtypeName} needs {bytes}.");
        return new SafetensorsEntry(name, type, shape, range[0], range[1]);
    }

    private static void CheckLayout(List<SafetensorsEntry> entries, string path, long dataLength)
    {
        entries.Sort((a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
        long end = 0;
        string? previous = null;
        foreach (var e in entries)
        {
            if (e.Begin < end)
                throw Bad(path, $"has overlapping tensors '{previous}' and '{e.Name}' (the second starts at byte {e.Begin}, before the first ends at {end}).");
            if (e.Begin > end)
                throw Bad(path, $"has a gap of {e.Begin - end} unused bytes before tensor '{e.Name}' in its data section.");
            end = e.End;
            previous = e.Name;
        }
        if (end != dataLength)
            throw Bad(path, $"has a {dataLength}-byte data section but its tensors cover {end} bytes.");
    }

    private static long NonNegative(JsonElement element, string name, string field, string path)
    {
        if (element.ValueKind != JsonValueKind.Number || !element.TryGetInt64(out var v) || v < 0)
            throw Bad(path, $"has tensor '{name}' with a {field} entry that is not a non-negative integer.");
        return v;
    }

    private static WeightsException Bad(string path, string what) => new($"{path} {what}");
}
