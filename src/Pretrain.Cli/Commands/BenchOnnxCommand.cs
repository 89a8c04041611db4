using System.Globalization;
using System.Text.Json;
using Pretrain.Onnx.Runtime;

namespace Pretrain.Cli.Commands;

/// <summary>
/// `pretrain bench-onnx DIR... [--batch B] [--seq T] [--threads N] [--warmup W] [--runs R] [--json]`: ONNX Runtime
/// latency of export folders, interleaved (<see cref="OnnxBench"/>), as a Markdown table with the median, the
/// interquartile range and min–max of latency, throughput at the median, and each folder's ratio to the first.
/// </summary>
public static class BenchOnnxCommand
{
    public static int Execute(ArgList args, TextWriter stdout)
    {
        if (args.Positionals.Count == 0)
            throw new UsageException("pretrain bench-onnx needs at least one export folder (or .onnx file).");
        var options = new OnnxBenchOptions
        {
            Batch = args.Int("--batch", 1),
            Sequence = args.Int("--seq", 128),
            Threads = args.Int("--threads", Environment.ProcessorCount),
            Warmup = args.Int("--warmup", 5),
            Runs = args.Int("--runs", 20),
        };
        var json = args.Flag("--json");
        args.RejectUnknown();

        var results = OnnxBench.Run(args.Positionals, options);
        var first = results[0];
        if (json)
        {
            var rows = results.Select(r => new
            {
                r.Folder, r.Batch, r.Sequence, r.Threads, r.Runs,
                r.MedianMs, r.P25Ms, r.P75Ms, r.MinMs, r.MaxMs,
                r.RowsPerSecond, r.TokensPerSecond, r.ModelBytes,
                LatencyRatio = r.MedianMs / first.MedianMs,
                Speedup = first.MedianMs / r.MedianMs,
            });
            stdout.WriteLine(JsonSerializer.Serialize(rows, new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = true }));
            return 0;
        }
        var shape = first.Sequence > 0 ? $"batch {first.Batch} × seq {first.Sequence}" : $"batch {first.Batch}";
        stdout.WriteLine($"ONNX Runtime CPU, {shape}, {options.Threads} intra-op threads, {options.Warmup} warm-up + {options.Runs} timed runs interleaved; ratios to the first folder");
        stdout.WriteLine("| model | MB | median ms | p25–p75 ms | min–max ms | rows/s | tokens/s | latency × first | speedup |");
        stdout.WriteLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var r in results)
        {
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {r.Folder} | {r.ModelBytes / 1e6:F2} | {r.MedianMs:F3} | {r.P25Ms:F3}–{r.P75Ms:F3} | {r.MinMs:F3}–{r.MaxMs:F3} | {r.RowsPerSecond:F1} | {r.TokensPerSecond:F0} | {r.MedianMs / first.MedianMs:F3} | {first.MedianMs / r.MedianMs:F3} |"));
        }
        return 0;
    }
}
