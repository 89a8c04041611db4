using System.Diagnostics;
using System.Text.Json.Nodes;
using Microsoft.ML.OnnxRuntime;
using Pretrain.Onnx.Export;

namespace Pretrain.Onnx.Runtime;

/// <summary>
/// Times export folders in ONNX Runtime on the CPU, interleaved: after <see cref="OnnxBenchOptions.Warmup"/> untimed
/// rounds, each of <see cref="OnnxBenchOptions.Runs"/> rounds runs every folder once, the starting folder rotating
/// per round so no folder always runs first. Inputs come from each graph's own declared inputs: <c>input_ids</c>
/// (random ids below config.json's vocab_size), <c>attention_mask</c> (ones), <c>token_type_ids</c> (zeros),
/// <c>pixel_values</c> (normal noise at the declared image size), and an empty key/value cache (past 0) for
/// <c>--with-past</c> exports. Every session gets the same settings: graph optimization level all,
/// <see cref="OnnxBenchOptions.Threads"/> intra-op threads, one inter-op thread.
/// </summary>
public static class OnnxBench
{
    /// <summary>Measures every folder; returns one result per folder, in the order given.</summary>
    public static IReadOnlyList<OnnxBenchResult> Run(IReadOnlyList<string> folders, OnnxBenchOptions options)
    {
        options.Check();
        var models = new List<Bench>();
        try
        {
            foreach (var folder in folders)
                models.Add(Bench.Open(folder, options));
            for (var round = 0; round < options.Warmup + options.Runs; round++)
            {
                for (var i = 0; i < models.Count; i++)
                {
                    var m = models[(i + round) % models.Count];
                    var ms = m.RunOnce();
                    if (round >= options.Warmup)
                        m.Times.Add(ms);
                }
            }
            return [.. models.Select(m => m.Result(options))];
        }
        finally
        {
            foreach (var m in models)
                m.Dispose();
        }
    }

    /// <summary>The model.onnx of an export folder (or the .onnx file itself).</summary>
    public static string ModelPath(string folder)
    {
        if (File.Exists(folder) && folder.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase))
            return folder;
        var path = Path.Combine(folder, "model.onnx");
        return File.Exists(path) ? path
            : throw new OnnxExportException($"{folder} has no model.onnx: pass export folders (pretrain export … --out DIR) or .onnx files.");
    }

    /// <summary>The p-quantile (0..1) of sorted values, linear between neighbours.</summary>
    internal static double Quantile(IReadOnlyList<double> sorted, double p)
    {
        if (sorted.Count == 1)
            return sorted[0];
        var at = p * (sorted.Count - 1);
        var lo = (int)Math.Floor(at);
        var hi = Math.Min(lo + 1, sorted.Count - 1);
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo);
    }

    private sealed class Bench : IDisposable
    {
        private readonly InferenceSession _session;
        private readonly List<string> _names = [];
        private readonly List<OrtValue> _values = [];
        private readonly List<string> _outputs;

        private Bench(string folder, string path, InferenceSession session)
        {
            Folder = folder;
            ModelFile = path;
            _session = session;
            _outputs = [.. session.OutputMetadata.Keys];
        }

        public string Folder { get; }

        public string ModelFile { get; }

        public bool Text { get; private set; }

        public List<double> Times { get; } = [];

        public static Bench Open(string folder, OnnxBenchOptions options)
        {
            var path = ModelPath(folder);
            InferenceSession session;
            using (var so = new SessionOptions
            {
                GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
                IntraOpNumThreads = options.Threads,
                InterOpNumThreads = 1,
                ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            })
            {
                try
                {
                    session = new InferenceSession(path, so);
                }
                catch (OnnxRuntimeException e)
                {
                    throw new OnnxExportException($"ONNX Runtime cannot load {path}: {e.Message}", e);
                }
            }
            var bench = new Bench(folder, path, session);
            try
            {
                bench.MakeInputs(options, VocabSize(path));
                return bench;
            }
            catch
            {
                bench.Dispose();
                throw;
            }
        }

        /// <summary>config.json's vocab_size beside the model (ids are drawn below it); 100 when absent.</summary>
        private static int VocabSize(string modelPath)
        {
            var config = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(modelPath))!, "config.json");
            try
            {
                return File.Exists(config) && JsonNode.Parse(File.ReadAllText(config))?["vocab_size"] is JsonValue v && v.TryGetValue<int>(out var n) && n > 0 ? n : 100;
            }
            catch (System.Text.Json.JsonException)
            {
                return 100;
            }
        }

        private void MakeInputs(OnnxBenchOptions o, int vocab)
        {
            var random = new Random(o.Seed);
            foreach (var (name, meta) in _session.InputMetadata)
            {
                var shape = Shape(name, meta, o);
                var n = shape.Aggregate(1L, (a, b) => a * b);
                OrtValue value;
                if (meta.ElementType == typeof(long))
                {
                    var data = new long[n];
                    if (name.Contains("input_ids", StringComparison.Ordinal))
                    {
                        Text = true;
                        for (var i = 0; i < n; i++)
                            data[i] = random.Next(vocab);
                    }
                    else if (name.Contains("attention_mask", StringComparison.Ordinal))
                        Array.Fill(data, 1L);
                    else if (name.Contains("position_ids", StringComparison.Ordinal))
                    {
                        for (var i = 0; i < n; i++)
                            data[i] = i % shape[^1];
                    }
                    value = OrtValue.CreateTensorValueFromMemory(data, shape);
                }
                else if (meta.ElementType == typeof(float))
                {
                    var data = new float[n];
                    for (var i = 0; i < n; i++)
                        data[i] = (float)(random.NextDouble() * 2 - 1);
                    value = OrtValue.CreateTensorValueFromMemory(data, shape);
                }
                else
                {
                    throw new OnnxExportException($"{ModelFile}: input '{name}' has element type {meta.ElementType.Name}; bench-onnx feeds int64 ids/masks and float32 values only.");
                }
                _names.Add(name);
                _values.Add(value);
            }
        }

        /// <summary>Declared dims, symbolic ones resolved: batch → B, past_sequence → 0, any other sequence → T.</summary>
        private long[] Shape(string name, NodeMetadata meta, OnnxBenchOptions o)
        {
            var dims = meta.Dimensions;
            var symbols = meta.SymbolicDimensions;
            var shape = new long[dims.Length];
            for (var d = 0; d < dims.Length; d++)
            {
                if (dims[d] > 0)
                {
                    shape[d] = dims[d];
                    continue;
                }
                var s = d < symbols.Length ? symbols[d] ?? "" : "";
                shape[d] = s.StartsWith("past", StringComparison.OrdinalIgnoreCase) && !s.Contains('+', StringComparison.Ordinal) ? 0
                    : d == 0 || s.Contains("batch", StringComparison.OrdinalIgnoreCase) ? o.Batch
                    : d == 1 || s.Contains("seq", StringComparison.OrdinalIgnoreCase) ? o.Sequence
                    : throw new OnnxExportException($"{ModelFile}: input '{name}' has a dynamic dimension {d} ('{s}') bench-onnx cannot size; it sizes batch and sequence dimensions only.");
            }
            return shape;
        }

        /// <summary>One run (all outputs fetched); milliseconds.</summary>
        public double RunOnce()
        {
            using var run = new RunOptions();
            var watch = Stopwatch.StartNew();
            using var outputs = _session.Run(run, _names, _values, _outputs);
            return watch.Elapsed.TotalMilliseconds;
        }

        public OnnxBenchResult Result(OnnxBenchOptions o)
        {
            var sorted = Times.Order().ToList();
            var bytes = new FileInfo(ModelFile).Length;
            var data = Path.ChangeExtension(ModelFile, ".onnx_data");
            if (File.Exists(data))
                bytes += new FileInfo(data).Length;
            return new OnnxBenchResult
            {
                Folder = Folder,
                Batch = o.Batch,
                Sequence = Text ? o.Sequence : 0,
                Threads = o.Threads,
                Runs = sorted.Count,
                MedianMs = Quantile(sorted, 0.5),
                P25Ms = Quantile(sorted, 0.25),
                P75Ms = Quantile(sorted, 0.75),
                MinMs = sorted[0],
                MaxMs = sorted[^1],
                ModelBytes = bytes,
            };
        }

        public void Dispose()
        {
            foreach (var v in _values)
                v.Dispose();
            _session.Dispose();
        }
    }
}
