using System.Globalization;
using Parquet;
using Parquet.Schema;
using Pretrain.Data.Sampling;

namespace Pretrain.Data.Synthetic;

/// <summary>
/// Two easy-to-separate classes of short English-like texts, deterministic from (seed, index): label 0 is calm
/// everyday prose (animals, places), label 1 is spam-like offers (prizes, money, urgency). A classifier on a tiny
/// pretrained encoder separates them within tens of steps; for smoke tests of sequence classification.
/// </summary>
public static class SyntheticLabelledText
{
    private static readonly string[] Nouns = ["cat", "dog", "bird", "river", "tree", "child", "ship", "farmer"];
    private static readonly string[] Verbs = ["sees", "likes", "follows", "finds", "helps", "paints"];
    private static readonly string[] Places = ["in the garden", "near the river", "at home", "on the hill", "by the sea"];
    private static readonly string[] Offers = ["win", "claim", "get", "receive", "grab"];
    private static readonly string[] Prizes = ["a free prize", "cash now", "a cheap loan", "free money", "a bonus offer"];
    private static readonly string[] Urgency = ["click here", "act now", "limited time", "call today", "reply fast"];

    /// <summary>Row <paramref name="index"/>: its text and label (0 or 1, alternating by a hash of the index).</summary>
    public static (string Text, long Label) Row(int seed, long index)
    {
        ulong state = StableHash.Combine(0x1ABE1, (ulong)(uint)seed, (ulong)index);
        int Next(int bound)
        {
            state += 0x9E3779B97F4A7C15UL;
            return (int)(StableHash.Mix(state) % (ulong)bound);
        }

        long label = Next(2);
        int sentences = 1 + Next(3);
        var parts = new List<string>();
        for (int s = 0; s < sentences; s++)
        {
            parts.Add(label == 0
                ? $"The {Nouns[Next(Nouns.Length)]} {Verbs[Next(Verbs.Length)]} the {Nouns[Next(Nouns.Length)]} {Places[Next(Places.Length)]}."
                : string.Create(CultureInfo.InvariantCulture,
                    $"{Offers[Next(Offers.Length)]} {Prizes[Next(Prizes.Length)]} worth {100 * (1 + Next(50))} dollars, {Urgency[Next(Urgency.Length)]}!"));
        }

        return (string.Join(' ', parts), label);
    }

    /// <summary>
    /// Writes <paramref name="shards"/> files <c>part-00000.parquet</c>… with columns text (string) and label (int64),
    /// global row i = <see cref="Row"/>(seed, i). Reuses existing complete files (written atomically). Returns the paths.
    /// </summary>
    public static IReadOnlyList<string> Write(string outDir, int rows, int shards, int rowsPerGroup, int seed)
    {
        if (rows < 1 || shards < 1 || rowsPerGroup < 1 || shards > rows)
        {
            throw new DataException(
                $"Synthetic labelled text needs rows >= shards >= 1 and rows_per_group >= 1 (got rows={rows}, shards={shards}, rows_per_group={rowsPerGroup}).");
        }

        string dir = Path.GetFullPath(outDir);
        Directory.CreateDirectory(dir);
        var paths = new List<string>();
        var text = new DataField<string>("text", true);
        var label = new DataField<long>("label", false);
        for (int s = 0; s < shards; s++)
        {
            string path = Path.Combine(dir, $"part-{s:D5}.parquet");
            paths.Add(path);
            if (File.Exists(path))
            {
                continue;
            }

            long first = (long)rows * s / shards, end = (long)rows * (s + 1) / shards;
            string tmp = $"{path}.{Environment.ProcessId}.tmp";
            using (var stream = File.Create(tmp))
            {
                var writer = ParquetWriter.CreateAsync(new ParquetSchema(text, label), stream).GetAwaiter().GetResult();
                for (long g = first; g < end; g += rowsPerGroup)
                {
                    var chunk = Enumerable.Range(0, (int)Math.Min(rowsPerGroup, end - g)).Select(i => Row(seed, g + i)).ToArray();
                    using var group = writer.CreateRowGroup();
                    group.WriteAsync(text, chunk.Select(c => (string?)c.Text).ToArray()).GetAwaiter().GetResult();
                    group.WriteAsync<long>(label, chunk.Select(c => c.Label).ToArray().AsMemory()).GetAwaiter().GetResult();
                }

                writer.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }

            File.Move(tmp, path, overwrite: true);
        }

        return paths;
    }
}
