using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using Pretrain.Core;

namespace Pretrain.Training.Checkpointing;

/// <summary>
/// manifest.json of a step folder: {"tool": "pretrain", "kind", "step", "metric", "created_utc", "files": {"rel/path": {"sha256", "bytes"}}}.
/// Written after the caller filled the folder (hashing and fsyncing each file); checked before any load. tool and
/// kind (<see cref="OutputManifest"/>: a run's "checkpoint" or an "imported-checkpoint") say the folder is ours.
/// </summary>
internal sealed record CheckpointManifest(long Step, double? Metric, string CreatedUtc, IReadOnlyDictionary<string, CheckpointManifest.Entry> Files)
{
    /// <summary>One file's size and lowercase hex sha256.</summary>
    public sealed record Entry(string Sha256, long Bytes);

    /// <summary>Hashes and fsyncs every file under <paramref name="dir"/>, then writes and fsyncs manifest.json.
    /// A non-finite metric (a diverged eval) is stored as null, so keep-best ignores it.</summary>
    public static CheckpointManifest Write(string dir, long step, double? metric, string kind = OutputManifest.RunCheckpoint)
    {
        var files = new SortedDictionary<string, Entry>(StringComparer.Ordinal);
        foreach (string relative in FilesIn(dir))
        {
            if (relative == CheckpointNames.Manifest)
                throw new CheckpointException($"{dir}: the checkpoint writer created {CheckpointNames.Manifest}, a name the checkpoint manager reserves; write that content under another name");
            using var stream = new FileStream(Path.Combine(dir, relative), FileMode.Open, FileAccess.ReadWrite, FileShare.Read);
            stream.Flush(flushToDisk: true);
            files[relative] = new Entry(Convert.ToHexStringLower(SHA256.HashData(stream)), stream.Length);
        }
        var manifest = new CheckpointManifest(step, metric is { } m && double.IsFinite(m) ? m : null,
            DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture), files);

        string path = Path.Combine(dir, CheckpointNames.Manifest);
        using (var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None))
        {
            using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
            {
                json.WriteStartObject();
                json.WriteString("tool", OutputManifest.Tool);
                json.WriteString("kind", kind);
                json.WriteNumber("step", manifest.Step);
                if (manifest.Metric is { } value)
                    json.WriteNumber("metric", value);
                else
                    json.WriteNull("metric");
                json.WriteString("created_utc", manifest.CreatedUtc);
                json.WriteStartObject("files");
                foreach (var (name, entry) in files)
                {
                    json.WriteStartObject(name);
                    json.WriteString("sha256", entry.Sha256);
                    json.WriteNumber("bytes", entry.Bytes);
                    json.WriteEndObject();
                }
                json.WriteEndObject();
                json.WriteEndObject();
            }
            stream.Flush(flushToDisk: true);
        }
        return manifest;
    }

    /// <summary>Reads manifest.json; null with a reason when it is missing or malformed.</summary>
    public static CheckpointManifest? TryRead(string dir, out string? problem)
    {
        string path = Path.Combine(dir, CheckpointNames.Manifest);
        problem = null;
        if (!File.Exists(path))
        {
            problem = $"{CheckpointNames.Manifest} is missing";
            return null;
        }
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            var root = doc.RootElement;
            var metric = root.GetProperty("metric");
            var files = new Dictionary<string, Entry>(StringComparer.Ordinal);
            foreach (var file in root.GetProperty("files").EnumerateObject())
            {
                files[file.Name] = new Entry(
                    file.Value.GetProperty("sha256").GetString() ?? "",
                    file.Value.GetProperty("bytes").GetInt64());
            }
            return new CheckpointManifest(
                root.GetProperty("step").GetInt64(),
                metric.ValueKind == JsonValueKind.Null ? null : metric.GetDouble(),
                root.TryGetProperty("created_utc", out var created) ? created.GetString() ?? "" : "",
                files);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException or IOException)
        {
            problem = $"{CheckpointNames.Manifest} is unreadable: {e.Message}";
            return null;
        }
    }

    /// <summary>
    /// The first reason the folder does not match its manifest, or null when every listed file is present with the
    /// listed size and sha256, the manifest's step matches the folder name, and no unlisted file is present.
    /// </summary>
    public static string? FindProblem(string dir, long expectedStep)
    {
        var manifest = TryRead(dir, out string? problem);
        if (manifest is null)
            return problem;
        if (manifest.Step != expectedStep)
            return $"{CheckpointNames.Manifest} says step {manifest.Step}, the folder name says {expectedStep}";
        foreach (var (name, entry) in manifest.Files.OrderBy(f => f.Key, StringComparer.Ordinal))
        {
            if (Path.IsPathRooted(name) || name.Split('/').Contains(".."))
                return $"{CheckpointNames.Manifest} lists '{name}', a path outside the folder";
            string path = Path.Combine(dir, name);
            if (!File.Exists(path))
                return $"{name} is missing";
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            if (stream.Length != entry.Bytes)
                return $"{name} has {stream.Length} bytes, the manifest says {entry.Bytes}";
            if (!string.Equals(Convert.ToHexStringLower(SHA256.HashData(stream)), entry.Sha256, StringComparison.OrdinalIgnoreCase))
                return $"{name} sha256 mismatch";
        }
        string? extra = FilesIn(dir).FirstOrDefault(f => f != CheckpointNames.Manifest && !manifest.Files.ContainsKey(f));
        return extra is null ? null : $"{extra} is not listed in the manifest";
    }

    /// <summary>Files under the folder as relative paths with '/' separators, sorted; hidden files (.nfs*, .DS_Store) skipped.</summary>
    private static IEnumerable<string> FilesIn(string dir) =>
        Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(dir, f).Replace(Path.DirectorySeparatorChar, '/'))
            .Where(f => !f.Split('/').Any(part => part.StartsWith('.')))
            .Order(StringComparer.Ordinal);
}
