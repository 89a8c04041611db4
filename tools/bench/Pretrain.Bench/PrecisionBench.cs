using System.Diagnostics;
using System.Text;
using Pretrain.Models.Text;
using Pretrain.Models.Vision;
using Pretrain.Training.Precision;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Bench;

/// <summary>
/// bf16-mixed against fp32 training tokens/s (`--precision`): the GPT d384/L6 seq-256 shape and a small ViT, each a
/// bare loop (forward + loss inside <see cref="PrecisionPolicy.Autocast"/> as the trainer does it, backward, AdamW,
/// zero_grad). fp32 and bf16-mixed windows alternate in one run so both see the same background load; medians
/// over the windows and their ratio are reported, with the measured matmul rates of both dtypes.
/// </summary>
public static class PrecisionBench
{
    private sealed record Shape(string Name, Func<nn.Module> Build, Func<nn.Module, Tensor> Loss, long TokensPerStep);

    public static string Run(int threads, int windows, int window)
    {
        set_num_threads(threads);
        double mmFp32 = MatmulProbe.Cpu(ScalarType.Float32), mmBf16 = MatmulProbe.Cpu(ScalarType.BFloat16);
        var sb = new StringBuilder();
        sb.AppendLine($"CPU: {Machine.CpuModel()}; flags: {CpuFlags()}; torch threads {threads}; {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
        sb.AppendLine($"matmul 512³: fp32 {mmFp32 * 1000:F1} GFLOP/s, bf16 {mmBf16 * 1000:F1} GFLOP/s (bf16/fp32 {mmBf16 / mmFp32:F2}×)");
        Console.Error.Write(sb.ToString());
        sb.AppendLine();
        sb.AppendLine("| shape | fp32 tok/s (median) | bf16-mixed tok/s (median) | bf16-mixed / fp32 | windows × steps |");
        sb.AppendLine("| --- | ---: | ---: | ---: | --- |");
        foreach (var shape in Shapes())
        {
            var fp32 = new List<double>();
            var bf16 = new List<double>();
            using var a = shape.Build();
            using var b = shape.Build();
            using var optA = optim.AdamW(a.parameters(), 3e-4);
            using var optB = optim.AdamW(b.parameters(), 3e-4);
            var p32 = PrecisionPolicy.Fp32();
            var pBf = new PrecisionPolicy("bf16-mixed", DeviceType.CPU);
            Step(shape, a, optA, p32);   // warm-up
            Step(shape, b, optB, pBf);
            for (int w = 0; w < windows; w++)
            {
                fp32.Add(Window(shape, a, optA, p32, window));
                bf16.Add(Window(shape, b, optB, pBf, window));
                Console.Error.WriteLine($"{shape.Name} window {w + 1}/{windows}: fp32 {fp32[^1]:F0}, bf16-mixed {bf16[^1]:F0} tok/s");
            }
            double m32 = Median(fp32), mBf = Median(bf16);
            sb.AppendLine($"| {shape.Name} | {m32:F0} | {mBf:F0} | {mBf / m32:F2}× | {windows} × {window} |");
        }
        return sb.ToString();
    }

    private static IEnumerable<Shape> Shapes()
    {
        // The ViT first: on a CPU without native bf16 the GPT shape's bf16 steps take minutes each.
        var vit = new VitConfig { ImageSize = 32, PatchSize = 4, NumChannels = 3, EmbedDim = 192, NumLayers = 6, NumHeads = 3 };
        const int images = 32;
        var pixels = randn(images, 3, 32, 32).DetachFromDisposeScope();
        var labels = randint(10, [images]).DetachFromDisposeScope();
        yield return new Shape($"vit d192 L6 32px/4 ({vit.NumPatches + 1} tokens) b{images}", () => nn.Sequential(("vit", new VisionTransformer(vit)), ("head", nn.Linear(192, 10))), m =>
        {
            var seqm = (TorchSharp.Modules.Sequential)m;
            var v = (VisionTransformer)seqm.children().First();
            var head = (TorchSharp.Modules.Linear)seqm.children().Last();
            return nn.functional.cross_entropy(head.call(v.Pool(v.call(pixels))), labels);
        }, images * (vit.NumPatches + 1));

        const int vocab = 8192, seq = 256, batch = 8;
        var gpt = new DecoderLmConfig { VocabSize = vocab, MaxSeqLen = seq, EmbedDim = 384, NumLayers = 6, NumHeads = 6 };
        var ids = randint(vocab, [batch, seq + 1]).DetachFromDisposeScope();
        yield return new Shape("gpt d384 L6 seq256 b8", () => new DecoderLm(gpt), m =>
        {
            var logits = ((DecoderLm)m).call(ids[.., ..^1]);                                    // (B, T, V)
            return nn.functional.cross_entropy(logits.view(-1, vocab).to(ScalarType.Float32), ids[.., 1..].reshape(-1));
        }, batch * seq);
    }

    private static void Step(Shape shape, nn.Module model, optim.Optimizer opt, PrecisionPolicy policy)
    {
        using var scope = NewDisposeScope();
        Tensor loss;
        using (policy.Autocast()) loss = shape.Loss(model);
        loss.backward();
        opt.step();
        opt.zero_grad();
    }

    private static double Window(Shape shape, nn.Module model, optim.Optimizer opt, PrecisionPolicy policy, int steps)
    {
        long t0 = Stopwatch.GetTimestamp();
        for (int s = 0; s < steps; s++) Step(shape, model, opt, policy);
        return steps * shape.TokensPerStep / Stopwatch.GetElapsedTime(t0).TotalSeconds;
    }

    private static double Median(List<double> xs)
    {
        var s = xs.Order().ToList();
        return s.Count % 2 == 1 ? s[s.Count / 2] : (s[s.Count / 2 - 1] + s[s.Count / 2]) / 2;
    }

    /// <summary>The cpuinfo flags that decide bf16 speed (avx2, avx512f, avx512_bf16, amx_bf16), or "none".</summary>
    private static string CpuFlags()
    {
        var line = File.Exists("/proc/cpuinfo") ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("flags", StringComparison.Ordinal)) : null;
        var flags = (line ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries).ToHashSet();
        var shown = new[] { "avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "avx512_fp16" }.Where(flags.Contains).ToList();
        return shown.Count == 0 ? "none of avx2/avx512/amx" : string.Join(" ", shown);
    }
}
