using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Pretrain.Data.Sampling;
using Pretrain.Data.Writing;

namespace Pretrain.Data.Synthetic;

/// <summary>
/// Generated English-like text with learnable structure, deterministic from (seed, index): templated sentences
/// from small word lists, counting runs, alphabet runs, small sums ("17 + 25 = 42.") and repeated key phrases
/// (a copy task). A tiny byte-level GPT visibly lowers its loss on it within a few hundred steps.
/// </summary>
public static class SyntheticText
{
    private const int FormatVersion = 1;
    private const string ManifestName = "synthetic.json";

    private static readonly string[] Adjectives = ["small", "red", "quiet", "happy", "old", "bright", "brave", "green"];
    private static readonly string[] Nouns = ["cat", "dog", "bird", "robot", "river", "tree", "king", "child", "ship", "farmer"];
    private static readonly string[] Verbs = ["sees", "likes", "follows", "finds", "helps", "chases", "paints", "calls"];
    private static readonly string[] Places = ["in the garden", "near the river", "at home", "on the hill", "by the sea", "under the bridge"];
    private static readonly string[] Numbers = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"];
    private static readonly string[] Keys = ["apple", "violet", "copper", "maple", "falcon", "silver", "ember", "harbor"];

    /// <summary>Document number <paramref name="index"/> of the stream for <paramref name="seed"/>.</summary>
    public static string Document(int seed, long index)
    {
        var rng = new Rng(StableHash.Combine(0x5E17, (ulong)(uint)seed, (ulong)index));
        var sb = new StringBuilder();
        int sentences = 3 + rng.Next(6);
        for (int s = 0; s < sentences; s++)
        {
            if (s > 0)
            {
                sb.Append(' ');
            }

            switch (rng.Next(6))
            {
                case 0:
                case 1:
                    sb.Append(CultureInfo.InvariantCulture, $"The {rng.Pick(Adjectives)} {rng.Pick(Nouns)} {rng.Pick(Verbs)} the {rng.Pick(Adjectives)} {rng.Pick(Nouns)} {rng.Pick(Places)}.");
                    break;
                case 2:
                    int start = rng.Next(20), length = 4 + rng.Next(5);
                    sb.Append("Count: ").AppendJoin(' ', Enumerable.Range(start, length)).Append('.');
                    break;
                case 3:
                    int a = rng.Next(50), b = rng.Next(50);
                    sb.Append(CultureInfo.InvariantCulture, $"{a} + {b} = {a + b}.");
                    break;
                case 4:
                    int from = rng.Next(Numbers.Length - 3), count = 3 + rng.Next(Numbers.Length - from - 2);
                    string words = string.Join(", ", Numbers.Skip(from).Take(count));
                    sb.Append(char.ToUpperInvariant(words[0])).Append(words.AsSpan(1)).Append('.');
                    break;
                default:
                    string key = $"{rng.Pick(Keys)}{rng.Next(100)}";
                    sb.Append(CultureInfo.InvariantCulture, $"The secret word is {key}. I repeat, the secret word is {key}.");
                    break;
            }
        }

        return sb.ToString();
    }

    /// <summary>
    /// Writes <paramref name="shards"/> files <c>part-00000.parquet</c>... with a string column <c>text</c>
    /// (rows split evenly, global row i = <see cref="Document"/>(seed, i)). Reuses the folder when its
    /// <c>synthetic.json</c> records the same parameters and the files are complete; otherwise rewrites it
    /// (each file atomically) and removes stale part files. Returns the absolute paths in order.
    /// </summary>
    public static IReadOnlyList<string> Write(string outDir, int rows, int shards, int rowsPerGroup, int seed)
    {
        if (rows < 1 || shards < 1 || rowsPerGroup < 1 || shards > rows)
        {
            throw new DataException(
                $"Synthetic text needs rows >= shards >= 1 and rows_per_group >= 1 (got rows={rows}, shards={shards}, rows_per_group={rowsPerGroup}).");
        }

        string dir = Path.GetFullPath(outDir);
        Directory.CreateDirectory(dir);
        var wanted = new Manifest { Version = FormatVersion, Rows = rows, Shards = shards, RowsPerGroup = rowsPerGroup, Seed = seed };
        string[] names = Enumerable.Range(0, shards).Select(i => $"part-{i:D5}.parquet").ToArray();
        string[] paths = names.Select(n => Path.Combine(dir, n)).ToArray();
        if (IsComplete(dir, wanted, names))
        {
            return paths;
        }

        string manifestPath = Path.Combine(dir, ManifestName);
        var earlier = ReadManifest(manifestPath)?.Files?.Select(f => f.Name).ToList() ?? [];   // only shards we wrote may go
        File.Delete(manifestPath);
        Writing.StaleShards.Delete(dir, earlier, names);

        var files = new List<ManifestFile>();
        for (int s = 0; s < shards; s++)
        {
            long first = (long)rows * s / shards, end = (long)rows * (s + 1) / shards;
            TextParquetWriter.Write(paths[s], Range(first, end).Select(i => (string?)Document(seed, i)), rowsPerGroup);
            files.Add(new ManifestFile { Name = names[s], Bytes = new FileInfo(paths[s]).Length });
        }

        string tmp = $"{manifestPath}.{Environment.ProcessId}.tmp";
        File.WriteAllText(tmp, JsonSerializer.Serialize(wanted with { Files = files }));
        File.Move(tmp, manifestPath, overwrite: true);
        return paths;
    }

    private static IEnumerable<long> Range(long first, long end)
    {
        for (long i = first; i < end; i++)
        {
            yield return i;
        }
    }

    private static bool IsComplete(string dir, Manifest wanted, string[] names)
    {
        string manifestPath = Path.Combine(dir, ManifestName);
        if (!File.Exists(manifestPath))
        {
            return false;
        }

        var found = ReadManifest(manifestPath);
        if (found is null || found.Files is null || !found.SameParameters(wanted) || found.Files.Count != names.Length)
        {
            return false;
        }

        var present = Directory.EnumerateFiles(dir, "part-*.parquet").Select(Path.GetFileName).ToHashSet();
        return present.SetEquals(names) && found.Files.All(f =>
            names.Contains(f.Name) && new FileInfo(Path.Combine(dir, f.Name)).Length == f.Bytes);
    }

    private static Manifest? ReadManifest(string path)
    {
        try
        {
            return File.Exists(path) ? JsonSerializer.Deserialize<Manifest>(File.ReadAllText(path)) : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private sealed record Manifest
    {
        [JsonPropertyName("version")] public int Version { get; init; }
        [JsonPropertyName("rows")] public int Rows { get; init; }
        [JsonPropertyName("shards")] public int Shards { get; init; }
        [JsonPropertyName("rows_per_group")] public int RowsPerGroup { get; init; }
        [JsonPropertyName("seed")] public int Seed { get; init; }
        [JsonPropertyName("files")] public IReadOnlyList<ManifestFile> Files { get; init; } = [];

        public bool SameParameters(Manifest other) =>
            Version == other.Version && Rows == other.Rows && Shards == other.Shards && RowsPerGroup == other.RowsPerGroup && Seed == other.Seed;
    }

    private sealed record ManifestFile
    {
        [JsonPropertyName("name")] public string Name { get; init; } = "";
        [JsonPropertyName("bytes")] public long Bytes { get; init; }
    }

    /// <summary>SplitMix64 stream.</summary>
    private struct Rng(ulong state)
    {
        public int Next(int bound)
        {
            state += 0x9E3779B97F4A7C15UL;
            return (int)(StableHash.Mix(state) % (ulong)bound);
        }

        public string Pick(string[] items) => items[Next(items.Length)];
    }
}
