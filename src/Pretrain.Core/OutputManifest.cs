using System.Globalization;
using System.Text.Json;

namespace Pretrain.Core;

/// <summary>
/// manifest.json of a folder pretrain wrote: {"tool": "pretrain", "kind", "created_utc", "files": [...]} — the proof
/// that the folder is ours, and the list of the only files a later run may replace or delete. A checkpoint's
/// manifest (Pretrain.Training) has the same tool/kind keys and lists its files as an object of hashes; both read here.
/// </summary>
public sealed record OutputManifest(string Kind, IReadOnlyList<string> Files)
{
    public const string FileName = "manifest.json";
    public const string Tool = "pretrain";

    /// <summary>Kinds of output; <see cref="RunCheckpoint"/> (a run's step folder) is never an --out of a command.</summary>
    public const string OnnxExport = "onnx-export", ImportedCheckpoint = "imported-checkpoint", RunCheckpoint = "checkpoint",
        Tokenizer = "tokenizer", Dataset = "dataset";

    private const long MaxBytes = 16 << 20;

    /// <summary>Writes manifest.json into <paramref name="folder"/> listing every file under it (relative, '/'-separated), flushed to disk.</summary>
    public static OutputManifest Write(string folder, string kind)
    {
        var files = FilesUnder(folder).Where(f => f != FileName).ToList();
        var manifest = new OutputManifest(kind, files);
        manifest.Save(folder);
        return manifest;
    }

    /// <summary>Writes this manifest into <paramref name="folder"/> (replacing an earlier one by rename), flushed to disk.</summary>
    public void Save(string folder)
    {
        string path = Path.Combine(folder, FileName);
        string tmp = $"{path}.{Environment.ProcessId}.tmp";
        using (var stream = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
            {
                json.WriteStartObject();
                json.WriteString("tool", Tool);
                json.WriteString("kind", Kind);
                json.WriteString("created_utc", DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture));
                json.WriteStartArray("files");
                foreach (string f in Files)
                {
                    json.WriteStringValue(f);
                }

                json.WriteEndArray();
                json.WriteEndObject();
            }

            stream.Flush(flushToDisk: true);
        }

        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>The manifest of ours in <paramref name="folder"/>, or null when there is none, it is another tool's, or it is unreadable.</summary>
    public static OutputManifest? TryRead(string folder)
    {
        string path = Path.Combine(folder, FileName);
        try
        {
            if (!File.Exists(path) || new FileInfo(path).Length > MaxBytes)
            {
                return null;
            }

            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || !root.TryGetProperty("tool", out var tool) || tool.ValueKind != JsonValueKind.String || tool.GetString() != Tool
                || !root.TryGetProperty("kind", out var kind) || kind.ValueKind != JsonValueKind.String
                || !root.TryGetProperty("files", out var files))
            {
                return null;
            }

            var names = files.ValueKind switch
            {
                JsonValueKind.Array => files.EnumerateArray().Select(f => f.ValueKind == JsonValueKind.String ? f.GetString()! : "").ToList(),
                JsonValueKind.Object => files.EnumerateObject().Select(f => f.Name).ToList(),
                _ => null,
            };
            // A listed path outside the folder would let a forged manifest point a later delete anywhere.
            return names is null || names.Any(n => !IsInside(n)) ? null : new OutputManifest(kind.GetString()!, names);
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Files under <paramref name="folder"/> as relative '/'-separated paths, sorted.</summary>
    public static IEnumerable<string> FilesUnder(string folder) =>
        Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(folder, f).Replace(Path.DirectorySeparatorChar, '/'))
            .Order(StringComparer.Ordinal);

    /// <summary>The entries under <paramref name="folder"/> this manifest does not list (manifest.json itself excepted), sorted.</summary>
    public IReadOnlyList<string> Foreign(string folder)
    {
        var listed = new HashSet<string>(Files, StringComparer.Ordinal) { FileName };
        return FilesUnder(folder).Where(f => !listed.Contains(f)).ToList();
    }

    private static bool IsInside(string relative) =>
        relative.Length > 0 && !Path.IsPathRooted(relative) && !relative.Split('/', '\\').Any(p => p is ".." or "." or "");
}
