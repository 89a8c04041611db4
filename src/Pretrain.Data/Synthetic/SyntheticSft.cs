using System.Globalization;
using System.Text.Json;
using Parquet;
using Parquet.Schema;
using Pretrain.Data.Sampling;

namespace Pretrain.Data.Synthetic;

/// <summary>
/// Prompt/response pairs with learnable rules, deterministic from (seed, index), short enough for a byte-level
/// model with 32 positions: <c>reverse abc =</c> → <c> cba</c>, <c>sort dbca =</c> → <c> abcd</c>,
/// <c>add 12 and 7 =</c> → <c> 19</c>, and <c>capital of Velmora =</c> → <c> Osk</c> from a fixed made-up table
/// (a lookup the model can only learn from the pairs). For SFT smoke tests and recipes.
/// </summary>
public static class SyntheticSft
{
    private const int FormatVersion = 1;
    private const string ManifestName = "synthetic.json";
    private const string Letters = "abcdefgh";

    private static readonly (string Country, string Capital)[] Capitals =
    [
        ("Velmora", "Osk"), ("Druvia", "Pell"), ("Kastor", "Ivra"), ("Zembla", "Quon"),
        ("Orlind", "Mave"), ("Tharos", "Etch"), ("Brisca", "Lune"), ("Nuvia", "Rask"),
    ];

    /// <summary>Pair number <paramref name="index"/> for <paramref name="seed"/>: (prompt, response).</summary>
    public static (string Prompt, string Response) Pair(int seed, long index)
    {
        ulong state = StableHash.Combine(0x5F7, (ulong)(uint)seed, (ulong)index);
        int Next(int bound)
        {
            state += 0x9E3779B97F4A7C15UL;
            return (int)(StableHash.Mix(state) % (ulong)bound);
        }

        string Word()
        {
            var chars = new char[2 + Next(4)];
            for (int i = 0; i < chars.Length; i++)
            {
                chars[i] = Letters[Next(Letters.Length)];
            }

            return new string(chars);
        }

        switch (Next(4))
        {
            case 0:
                string w = Word();
                var reversed = w.ToCharArray();
                Array.Reverse(reversed);
                return ($"reverse {w} =", " " + new string(reversed));
            case 1:
                string s = Word();
                var sorted = s.ToCharArray();
                Array.Sort(sorted);
                return ($"sort {s} =", " " + new string(sorted));
            case 2:
                int a = Next(50), b = Next(50);
                return (string.Create(CultureInfo.InvariantCulture, $"add {a} and {b} ="), string.Create(CultureInfo.InvariantCulture, $" {a + b}"));
            default:
                var (country, capital) = Capitals[Next(Capitals.Length)];
                return ($"capital of {country} =", " " + capital);
        }
    }

    /// <summary>
    /// Writes <paramref name="shards"/> files <c>part-00000.parquet</c>… with string columns prompt and response
    /// (rows split evenly over shards, <paramref name="rowsPerGroup"/> per row group, global row i =
    /// <see cref="Pair"/>(seed, i)). Each file is written under a temporary name and renamed; a <c>synthetic.json</c>
    /// written last records the parameters, so a complete folder with the same ones is reused and any other is
    /// rewritten. Returns the absolute paths in order.
    /// </summary>
    public static IReadOnlyList<string> Write(string outDir, int rows, int shards, int rowsPerGroup, int seed)
    {
        if (rows < 1 || shards < 1 || rowsPerGroup < 1 || shards > rows)
        {
            throw new DataException(
                $"Synthetic SFT pairs need rows >= shards >= 1 and rows_per_group >= 1 (got rows={rows}, shards={shards}, rows_per_group={rowsPerGroup}).");
        }

        string dir = Path.GetFullPath(outDir);
        Directory.CreateDirectory(dir);
        string[] paths = Enumerable.Range(0, shards).Select(i => Path.Combine(dir, $"part-{i:D5}.parquet")).ToArray();
        string manifestPath = Path.Combine(dir, ManifestName);
        string manifest = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["kind"] = "sft", ["version"] = FormatVersion, ["rows"] = rows, ["shards"] = shards, ["rows_per_group"] = rowsPerGroup, ["seed"] = seed,
        });
        if (File.Exists(manifestPath) && File.ReadAllText(manifestPath) == manifest && paths.All(File.Exists))
        {
            return paths;
        }

        var earlier = EarlierShards(manifestPath);   // only shards we wrote may go
        File.Delete(manifestPath);
        Writing.StaleShards.Delete(dir, earlier, paths);

        var prompt = new DataField<string>("prompt", true);
        var response = new DataField<string>("response", true);
        for (int s = 0; s < shards; s++)
        {
            long first = (long)rows * s / shards, end = (long)rows * (s + 1) / shards;
            string tmp = $"{paths[s]}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
            try
            {
                using (var stream = File.Create(tmp))
                {
                    var writer = ParquetWriter.CreateAsync(new ParquetSchema(prompt, response), stream).GetAwaiter().GetResult();
                    for (long g = first; g < end; g += rowsPerGroup)
                    {
                        var chunk = Enumerable.Range(0, (int)Math.Min(rowsPerGroup, end - g)).Select(i => Pair(seed, g + i)).ToArray();
                        using var group = writer.CreateRowGroup();
                        group.WriteAsync(prompt, chunk.Select(c => (string?)c.Prompt).ToArray()).GetAwaiter().GetResult();
                        group.WriteAsync(response, chunk.Select(c => (string?)c.Response).ToArray()).GetAwaiter().GetResult();
                    }

                    writer.DisposeAsync().AsTask().GetAwaiter().GetResult();
                    stream.Flush(flushToDisk: true);
                }

                File.Move(tmp, paths[s], overwrite: true);
            }
            finally
            {
                File.Delete(tmp);
            }
        }

        string manifestTmp = $"{manifestPath}.{Environment.ProcessId}.tmp";
        File.WriteAllText(manifestTmp, manifest);
        File.Move(manifestTmp, manifestPath, overwrite: true);
        return paths;
    }

    /// <summary>The shard names an earlier write of ours made here, from its synthetic.json's shard count (none without one).</summary>
    private static IEnumerable<string> EarlierShards(string manifestPath)
    {
        int shards = 0;
        try
        {
            if (File.Exists(manifestPath))
            {
                using var doc = JsonDocument.Parse(File.ReadAllText(manifestPath));
                if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("shards", out var n) && n.TryGetInt32(out int count))
                {
                    shards = count;
                }
            }
        }
        catch (JsonException)
        {
        }

        // Bounded by what is on disk, whatever the file claims.
        string dir = Path.GetDirectoryName(manifestPath)!;
        return Directory.EnumerateFiles(dir, "part-*.parquet").Select(f => Path.GetFileName(f))
            .Where(name => int.TryParse(name.AsSpan(5, name.Length - 13), NumberStyles.None, CultureInfo.InvariantCulture, out int i) && i < shards)
            .ToList();
    }
}
