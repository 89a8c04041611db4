using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using Parquet;
using Parquet.Schema;
using Pretrain.Data.Sources;
using Pretrain.Data.Writing;

namespace Pretrain.Fuzz;

/// <summary>
/// <c>pretrain-fuzz --page-check-cost [--repeats R] [--codec snappy|gzip|zstd|none]</c>: what the page check costs
/// next to the read it guards, in one process, interleaved, medians of R — so other load on the machine shifts both.
/// A synthetic text file (40,000 templated rows, 2,000 per row group) is read three ways per repeat: (a) Parquet.Net
/// alone (a reader per file, every row group; what the source did before the check), (b) the page check alone on every
/// row group, (c) <see cref="ParquetTextSource"/> (check, then Parquet.Net).
/// </summary>
public static class PageCheckCost
{
    public static int Run(int repeats, string codec, string workDir)
    {
        string path = Path.Combine(workDir, "cost.parquet");
        var field = new DataField<string>("text", true);
        var random = new Random(5);
        string[] words = ["the", "model", "reads", "a", "token", "from", "every", "row", "group", "and", "page", "of", "text"];
        var rows = Enumerable.Range(0, 40_000).Select(i => i % 50 == 0 ? null
            : string.Join(' ', Enumerable.Range(0, 8 + random.Next(40)).Select(_ => words[random.Next(words.Length)]))).ToArray();
        var method = codec switch
        {
            "gzip" => CompressionMethod.Gzip,
            "zstd" => CompressionMethod.Zstd,
            "none" => CompressionMethod.None,
            _ => CompressionMethod.Snappy,
        };
        WriteAsync().GetAwaiter().GetResult();

        var check = typeof(ParquetTextSource).Assembly.GetType("Pretrain.Data.Sources.ParquetPageCheck", throwOnError: true)!
            .GetMethod("Check", BindingFlags.Public | BindingFlags.Static)!;
        var a = new List<double>();
        var b = new List<double>();
        var c = new List<double>();
        for (int r = 0; r < repeats + 1; r++) // the first repeat warms up and is dropped
        {
            var clock = Stopwatch.StartNew();
            var plain = ParquetReader.CreateAsync(path).GetAwaiter().GetResult();
            try
            {
                var leaf = plain.Schema.GetDataFields()[0];
                for (int g = 0; g < plain.RowGroupCount; g++)
                {
                    using var group = plain.OpenRowGroupReader(g);
                    var values = new string?[group.RowCount];
                    group.ReadAsync(leaf, values.AsMemory()).AsTask().GetAwaiter().GetResult();
                }
            }
            finally
            {
                plain.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }

            double ta = clock.Elapsed.TotalMilliseconds;
            clock.Restart();
            var checkedReader = ParquetReader.CreateAsync(path).GetAwaiter().GetResult();
            try
            {
                var leaf = checkedReader.Schema.GetDataFields()[0];
                for (int g = 0; g < checkedReader.RowGroupCount; g++)
                    check.Invoke(null, [path, checkedReader.Metadata!, g, leaf]);
            }
            finally
            {
                checkedReader.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }

            double tb = clock.Elapsed.TotalMilliseconds;
            clock.Restart();
            using (var source = ParquetTextSource.Open([path], "text"))
            {
                for (int g = 0; g < source.Units.Count; g++)
                    source.ReadRowGroupAsync(0, g).GetAwaiter().GetResult();
                if (source.FallbackReads != 0)
                    throw new InvalidOperationException("the benchmark file went to the ParquetSharp fallback");
            }

            double tc = clock.Elapsed.TotalMilliseconds;
            if (r > 0)
            {
                a.Add(ta);
                b.Add(tb);
                c.Add(tc);
            }
        }

        double ma = Median(a), mb = Median(b), mc = Median(c);
        var inv = CultureInfo.InvariantCulture;
        Console.WriteLine($"page check cost: 40,000 rows, 20 row groups, {codec}, {new FileInfo(path).Length / 1024.0:F0} KiB, {repeats} interleaved repeats, median ms");
        Console.WriteLine("| (a) Parquet.Net read, all row groups | (b) page check alone | (c) source read (check + read) | (b)/(a) | (c)/(a) |");
        Console.WriteLine("|---:|---:|---:|---:|---:|");
        Console.WriteLine(string.Create(inv, $"| {ma:F1} | {mb:F1} | {mc:F1} | {mb / ma:F2} | {mc / ma:F2} |"));
        return 0;

        async Task WriteAsync()
        {
            await using var stream = File.Create(path);
            await using var writer = await ParquetWriter.CreateAsync(new ParquetSchema(field), stream, new ParquetOptions { CompressionMethod = method });
            foreach (var chunk in rows.Chunk(2_000))
            {
                using var group = writer.CreateRowGroup();
                await group.WriteAsync(field, chunk);
            }
        }
    }

    private static double Median(List<double> xs)
    {
        var s = xs.Order().ToList();
        return s.Count % 2 == 1 ? s[s.Count / 2] : (s[s.Count / 2 - 1] + s[s.Count / 2]) / 2;
    }
}
