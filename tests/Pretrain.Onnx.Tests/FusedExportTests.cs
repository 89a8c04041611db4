using Microsoft.ML.OnnxRuntime;
using Pretrain.Models.Text;
using Pretrain.Onnx.Export;
using Pretrain.Onnx.Proto;
using Pretrain.Onnx.Runtime;
using Pretrain.Onnx.Validation;

namespace Pretrain.Onnx.Tests;

/// <summary>
/// <c>--optimize</c>: the fused export holds ONNX Runtime's com.microsoft operators where the module structure says
/// (counted from the written file, per layer), keeps the plain export's inputs and outputs, and computes the same
/// values in ONNX Runtime (with padding; through the KV cache step by step for decoders). Tiny models, seconds each.
/// </summary>
[Collection("torch")]
public sealed class FusedExportTests
{
    [Theory]
    [InlineData(true, true, null)]   // BERT post-LN with a pooler
    [InlineData(false, false, 3)]    // pre-LN with a classifier on the first token
    public void Fused_encoder_has_one_attention_and_a_skip_norm_per_LN_and_matches_the_plain_export(bool postNorm, bool pooler, int? classes)
    {
        using var fx = TinyModelCheckpoint.Encoder(postNorm, pooler, classes);
        OnnxExporter.Export(fx.StepDir, fx["plain"], new ExportOptions { Validate = false });
        var result = OnnxExporter.Export(fx.StepDir, fx["fused"], new ExportOptions { Optimize = true });

        const int layers = 2;
        var ops = OpCounts(fx["fused/model.onnx"]);
        Assert.Equal(layers, ops.GetValueOrDefault("com.microsoft/Attention"));
        Assert.Equal(2 * layers, ops.GetValueOrDefault("com.microsoft/SkipLayerNormalization")); // norm1 + norm2 (pre-LN: norm2 + next norm1 / final norm)
        Assert.Equal(layers, ops.GetValueOrDefault("com.microsoft/BiasGelu"));
        Assert.Equal(postNorm ? 1 : 2, ops.GetValueOrDefault("/LayerNormalization"));            // embed_norm (+ block 0's norm1 for pre-LN)
        Assert.Equal(0, ops.GetValueOrDefault("/Softmax") + ops.GetValueOrDefault("/Erf"));
        Assert.Equal(result.Report.Optimization!.FusedOps.Sum(kv => kv.Value), ops.Where(kv => kv.Key.StartsWith("com.microsoft/", StringComparison.Ordinal)).Sum(kv => kv.Value));

        Assert.True(result.Report.Passed);
        Assert.Contains(result.Report.Optimization.AgainstPlain, s => s.Padding > 0);
        Assert.All(result.Report.Optimization.AgainstPlain, s => Assert.True(s.MaxAbsDiff <= 1e-4, s.ToString()));
        Assert.False(Directory.Exists(fx["fused/.plain"]));
        Assert.Contains("\"optimization\"", File.ReadAllText(fx["fused/validation.json"]), StringComparison.Ordinal);

        // Independently of the export's own check: a longer batch, rows padded by 0, 3, 6 and 9, against the plain export and TorchSharp.
        const int batch = 4, t = 23;
        var ids = Enumerable.Range(0, batch * t).Select(i => (long)(i * 13 % 97)).ToArray();
        var mask = Enumerable.Range(0, batch * t).Select(i => i % t < t - 3 * (i / t) ? 1L : 0L).ToArray();
        var types = Enumerable.Range(0, batch * t).Select(i => (long)(i % 3)).ToArray();
        var plain = RunEncoder(fx["plain/model.onnx"], ids, mask, types, batch, t);
        var fused = RunEncoder(fx["fused/model.onnx"], ids, mask, types, batch, t);
        var torch = EncoderValidator.Reference((EncoderLm)fx.Model, fx.Classifier, ids, mask, types, batch, t);
        Assert.Equal(plain.Keys.Order(), fused.Keys.Order());
        foreach (var name in new[] { "embeddings", "pooler_output", "logits" }.Where(plain.ContainsKey))
        {
            Assert.True(MaxAbsDiff(plain[name], fused[name]) <= 1e-4, $"{name}: fused vs plain {MaxAbsDiff(plain[name], fused[name])}");
            Assert.True(MaxAbsDiff(torch[name], fused[name]) <= 1e-4, $"{name}: fused vs TorchSharp {MaxAbsDiff(torch[name], fused[name])}");
        }
        Console.WriteLine($"fused encoder post-LN {postNorm}: max |fused - plain| {result.Report.Optimization.MaxAbsDiff:G3}");
    }

    [Fact]
    public void Fused_vit_has_one_attention_and_two_skip_norms_per_block()
    {
        using var fx = TinyModelCheckpoint.Vit(classToken: true, "cls", "learned", classes: 4);
        var result = OnnxExporter.Export(fx.StepDir, fx["fused"], new ExportOptions { Optimize = true });
        var ops = OpCounts(fx["fused/model.onnx"]);
        Assert.Equal(2, ops.GetValueOrDefault("com.microsoft/Attention"));
        Assert.Equal(4, ops.GetValueOrDefault("com.microsoft/SkipLayerNormalization"));
        Assert.Equal(2, ops.GetValueOrDefault("com.microsoft/BiasGelu"));
        Assert.Equal(1, ops.GetValueOrDefault("/LayerNormalization")); // block 0's norm1
        Assert.True(result.Report.Passed);
        Assert.All(result.Report.Shapes, s => Assert.True(s.MaxAbsDiff <= 1e-4, s.ToString())); // against TorchSharp
        Assert.Equal(9, result.Report.Optimization!.AgainstPlain.Count);                        // 3 batches × 3 outputs
    }

    [Fact]
    public void Fused_gpt2_with_past_keeps_the_cache_and_generates_the_plain_exports_logits_step_by_step()
    {
        using var fx = new TinyCheckpoint("gpt2");
        OnnxExporter.Export(fx.StepDir, fx["plain"], new ExportOptions { WithPast = true, Validate = false });
        var result = OnnxExporter.Export(fx.StepDir, fx["fused"], new ExportOptions { WithPast = true, Optimize = true });

        var ops = OpCounts(fx["fused/model.onnx"]);
        var layers = fx.Config.NumLayers;
        Assert.Equal(layers, ops.GetValueOrDefault("com.microsoft/MultiHeadAttention"));
        Assert.Equal(2 * layers, ops.GetValueOrDefault("com.microsoft/SkipLayerNormalization"));
        Assert.Equal(layers, ops.GetValueOrDefault("com.microsoft/FastGelu"));
        Assert.Equal(0, ops.GetValueOrDefault("/Softmax") + ops.GetValueOrDefault("/Tanh"));
        Assert.True(result.Report.Passed);
        Assert.Empty(result.Report.Optimization!.Notes);
        Assert.Contains(result.Report.Optimization.AgainstPlain, s => s.PastSequence > 0 && s.Sequence == 1);

        using (var p = new InferenceSession(fx["plain/model.onnx"]))
        using (var f = new InferenceSession(fx["fused/model.onnx"]))
        {
            Assert.Equal(p.InputMetadata.Keys, f.InputMetadata.Keys);
            Assert.Equal(p.OutputMetadata.Keys, f.OutputMetadata.Keys);
            Assert.Contains("present.1.value", f.OutputMetadata.Keys);
        }

        // Greedy generation of 2 rows, one token per step through each export's own cache; the second row's mask
        // hides its first prompt token. Every step's logits and the caches' lengths agree.
        using var plain = OnnxDecoderSession.Open(fx["plain"]);
        using var fused = OnnxDecoderSession.Open(fx["fused"]);
        using var plainCache = plain.NewCache(2);
        using var fusedCache = fused.NewCache(2);
        long[] prompt = [72, 105, 33, 10, 99, 100, 101, 102];
        long[] mask = [1, 1, 1, 1, 0, 1, 1, 1];
        var want = plain.Step(prompt, 2, 4, plainCache, mask);
        var got = fused.Step(prompt, 2, 4, fusedCache, mask);
        var maskSoFar = mask.ToList();
        double worst = MaxAbsDiff(want, got);
        for (var step = 0; step < 12; step++)
        {
            var v = fx.Config.VocabSize;
            long[] next = [ArgMax(want, (want.Length / v) / 2 - 1, v), ArgMax(want, want.Length / v - 1, v)];
            var total = plainCache.Length + 1;
            var stepMask = Enumerable.Range(0, 2 * total).Select(i => i % total < total - 1 ? maskSoFar[i / total * (total - 1) + i % total] : 1L).ToArray();
            maskSoFar = [.. stepMask];
            want = plain.Step(next, 2, 1, plainCache, stepMask);
            got = fused.Step(next, 2, 1, fusedCache, stepMask);
            worst = Math.Max(worst, MaxAbsDiff(want, got));
            Assert.True(MaxAbsDiff(want, got) <= 1e-4, $"step {step}: max |fused - plain| {MaxAbsDiff(want, got)}");
        }
        Assert.Equal(plainCache.Length, fusedCache.Length);
        Assert.Equal(16, fusedCache.Length);
        Console.WriteLine($"fused gpt2 with past: 12 cached steps, max |fused - plain| {worst:G3}");
    }

    [Fact]
    public void Fused_llama_fuses_the_residual_RMSNorms_and_says_why_attention_stays_unfused()
    {
        using var fx = new TinyCheckpoint("llama");
        var result = OnnxExporter.Export(fx.StepDir, fx["fused"], new ExportOptions { WithPast = true, Optimize = true });
        var ops = OpCounts(fx["fused/model.onnx"]);
        Assert.Equal(2 * fx.Config.NumLayers, ops.GetValueOrDefault("com.microsoft/SkipSimplifiedLayerNormalization"));
        Assert.Equal(0, ops.GetValueOrDefault("com.microsoft/MultiHeadAttention"));
        Assert.True(result.Report.Passed);
        Assert.Contains(result.Report.Optimization!.Notes, n => n.Contains("GroupQueryAttention", StringComparison.Ordinal));
        Assert.Contains(result.Report.Optimization.AgainstPlain, s => s.PastSequence > 0);
    }

    [Fact]
    public void Optimize_with_int8_is_refused_in_one_line()
    {
        using var fx = new TinyCheckpoint("gpt2");
        var e = Assert.Throws<OnnxExportException>(() => OnnxExporter.Export(fx.StepDir, fx["out"], new ExportOptions { Optimize = true, Int8 = true }));
        Assert.Contains("--optimize and --quantize int8", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
        Assert.False(Directory.Exists(fx["out"]) && Directory.EnumerateFileSystemEntries(fx["out"]).Any());
    }

    /// <summary>Node counts of an ONNX file keyed "domain/op_type" (default domain: "/op_type").</summary>
    internal static Dictionary<string, int> OpCounts(string path)
    {
        using var file = File.OpenRead(path);
        return ModelProto.Parser.ParseFrom(file).Graph.Node.GroupBy(n => $"{n.Domain}/{n.OpType}").ToDictionary(g => g.Key, g => g.Count());
    }

    private static Dictionary<string, float[]> RunEncoder(string path, long[] ids, long[] mask, long[] types, int batch, int t)
    {
        using var session = new InferenceSession(path);
        using var outputs = session.Run([
            NamedOnnxValue.CreateFromTensor("input_ids", new Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<long>(ids, [batch, t])),
            NamedOnnxValue.CreateFromTensor("attention_mask", new Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<long>(mask, [batch, t])),
            NamedOnnxValue.CreateFromTensor("token_type_ids", new Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<long>(types, [batch, t])),
        ]);
        return outputs.ToDictionary(o => o.Name, o => o.AsEnumerable<float>().ToArray());
    }

    private static long ArgMax(float[] logits, int row, int vocab)
    {
        var best = 0;
        for (var i = 1; i < vocab; i++)
            best = logits[row * vocab + i] > logits[row * vocab + best] ? i : best;
        return best;
    }

    private static double MaxAbsDiff(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        return a.Zip(b, (x, y) => Math.Abs((double)x - y)).Max();
    }
}
