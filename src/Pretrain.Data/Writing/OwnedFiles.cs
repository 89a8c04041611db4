using System.Globalization;
using System.Text.Json;
using Pretrain.Core;

namespace Pretrain.Data.Writing;

/// <summary>
/// The files in a folder that an earlier data write of ours recorded as its own: those its manifest.json (kind
/// dataset) lists, or the shards a synthetic writer's synthetic.json counts, plus those two files themselves. A data
/// command may replace or remove these and nothing else (docs/outputs-and-locks.md).
/// </summary>
public static class OwnedFiles
{
    private const string SyntheticStamp = "synthetic.json";
    private const long MaxStampBytes = 1 << 20;

    /// <summary>File names (relative to <paramref name="dir"/>) an earlier write of ours recorded there; empty when none.</summary>
    public static IReadOnlySet<string> In(string dir)
    {
        var owned = new HashSet<string>(StringComparer.Ordinal);
        if (!Directory.Exists(dir)) return owned;
        if (OutputManifest.TryRead(dir) is { Kind: OutputManifest.Dataset } manifest)
        {
            owned.Add(OutputManifest.FileName);
            owned.UnionWith(manifest.Files.Select(f => Path.GetFileName(f)!));
        }
        if (SyntheticShards(Path.Combine(dir, SyntheticStamp)) is int shards)
        {
            owned.Add(SyntheticStamp);
            foreach (string file in Directory.EnumerateFiles(dir, "part-*.parquet"))
            {
                string name = Path.GetFileName(file);
                if (int.TryParse(name.AsSpan(5, name.Length - 13), NumberStyles.None, CultureInfo.InvariantCulture, out int i) && i < shards)
                    owned.Add(name);
            }
        }
        return owned;
    }

    /// <summary>The shard count a synthetic writer's stamp records, or null when there is no readable stamp of ours.</summary>
    private static int? SyntheticShards(string path)
    {
        try
        {
            if (!File.Exists(path) || new FileInfo(path).Length > MaxStampBytes) return null;
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("shards", out var n)
                && n.TryGetInt32(out int count) && count >= 0 ? count : null;
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
