using System.Text.Json.Nodes;
using Pretrain.Onnx.Export;
using Pretrain.Onnx.Runtime;
using Pretrain.Onnx.Validation;

namespace Pretrain.Onnx.Tests;

[Collection("torch")]
public sealed class ExportTests
{
    [Theory]
    [InlineData("gpt2", true)]
    [InlineData("llama", true)]
    [InlineData("llama", false)]
    public void Export_matches_TorchSharp_for_several_shapes(string arch, bool tied)
    {
        using var fx = new TinyCheckpoint(arch, tied);
        var result = OnnxExporter.Export(fx.StepDir, fx["out"], new ExportOptions());

        Assert.True(result.Report.Passed);
        Assert.True(result.Report.Shapes.Count >= 3);
        Assert.All(result.Report.Shapes, s => Assert.True(s.MaxAbsDiff <= 1e-4, $"{arch} {s}"));
        foreach (var file in new[] { "model.onnx", "config.json", "validation.json", "tokenizer/tokenizer_config.json" })
            Assert.True(File.Exists(fx["out/" + file]), file);
        Assert.False(File.Exists(fx["out/model.onnx_data"]));
        var json = JsonNode.Parse(File.ReadAllText(fx["out/validation.json"]))!;
        Assert.Equal(17, (int)json["opset"]!);
        Assert.Equal("fp32", (string)json["dtype"]!);
        Assert.True((bool)json["passed"]!);
        Assert.Equal(3, json["shapes"]!.AsArray().Count);
    }

    [Theory]
    [InlineData("gpt2")]
    [InlineData("llama")]
    public void With_past_one_token_at_a_time_matches_the_full_forward(string arch)
    {
        using var fx = new TinyCheckpoint(arch);
        var result = OnnxExporter.Export(fx.StepDir, fx["out"], new ExportOptions { WithPast = true });
        Assert.Contains(result.Report.Shapes, s => s.PastSequence > 0 && s.Passed);

        const int batch = 2, t = 9;
        var v = fx.Config.VocabSize;
        var ids = Enumerable.Range(0, batch * t).Select(i => (long)(i * 37 % v)).ToArray();
        var full = DecoderCheckpoint.Logits(fx.Model, ids, batch, t);
        using var session = OnnxDecoderSession.Open(fx["out"]);
        Assert.True(session.WithPast);
        using var cache = session.NewCache(batch);
        for (var step = 0; step < t; step++)
        {
            var logits = session.Step(OnnxValidator.Columns(ids, batch, t, step, 1), batch, 1, cache);
            var expected = OnnxValidator.Positions(full, batch, t, step, 1, v);
            Assert.True(MaxAbsDiff(expected, logits) <= 1e-4, $"step {step}: {MaxAbsDiff(expected, logits)}");
        }
        Assert.Equal(t, cache.Length);
    }

    [Fact]
    public void Fp16_export_is_within_its_tolerance_and_half_the_size()
    {
        using var fx = new TinyCheckpoint("llama");
        OnnxExporter.Export(fx.StepDir, fx["fp32"], new ExportOptions());
        var result = OnnxExporter.Export(fx.StepDir, fx["fp16"], new ExportOptions { Dtype = OnnxDtype.Fp16 });

        Assert.True(result.Report.Passed);
        Assert.Equal(1e-2, result.Report.Tolerance);
        Assert.All(result.Report.Shapes, s => Assert.True(s.MaxAbsDiff <= 1e-2 * Math.Max(1, s.MaxAbsLogit), s.ToString()));
        var ratio = (double)new FileInfo(fx["fp16/model.onnx"]).Length / new FileInfo(fx["fp32/model.onnx"]).Length;
        Assert.InRange(ratio, 0.4, 0.65);
    }

    [Fact]
    public void External_data_forced_on_a_tiny_model_loads_in_OnnxRuntime()
    {
        using var fx = new TinyCheckpoint("gpt2");
        var result = OnnxExporter.Export(fx.StepDir, fx["out"], new ExportOptions { ExternalDataThreshold = 0, WithPast = true });

        Assert.True(result.Report.ExternalData);
        Assert.True(result.Report.Passed);
        Assert.True(new FileInfo(fx["out/model.onnx_data"]).Length > new FileInfo(fx["out/model.onnx"]).Length);
    }

    [Fact]
    public void Opset_18_export_matches()
    {
        using var fx = new TinyCheckpoint("llama");
        var result = OnnxExporter.Export(fx.StepDir, fx["out"], new ExportOptions { Opset = 18, WithPast = true });
        Assert.True(result.Report.Passed);
        Assert.All(result.Report.Shapes, s => Assert.True(s.MaxAbsDiff <= 1e-4, s.ToString()));
    }

    [Fact]
    public void Attention_mask_hides_padded_keys()
    {
        using var fx = new TinyCheckpoint("llama");
        OnnxExporter.Export(fx.StepDir, fx["out"], new ExportOptions { Validate = false });
        using var session = OnnxDecoderSession.Open(fx["out"]);
        var v = fx.Config.VocabSize;
        long[] ids = [5, 6, 7, 8, 9, 5, 6, 7, 0, 0];    // row 1 is row 0's first 3 tokens, right-padded
        long[] mask = [1, 1, 1, 1, 1, 1, 1, 1, 0, 0];
        var logits = session.Logits(ids, 2, 5, mask);
        var unpadded = DecoderCheckpoint.Logits(fx.Model, [5, 6, 7], 1, 3);
        Assert.True(MaxAbsDiff(unpadded, logits.AsSpan(5 * v, 3 * v).ToArray()) <= 1e-4);

        // Masking key 0 changes what position 1 sees.
        var masked = session.Logits([5, 6], 1, 2, [0, 1]);
        var plain = session.Logits([5, 6], 1, 2);
        Assert.True(MaxAbsDiff(masked.AsSpan(v, v).ToArray(), plain.AsSpan(v, v).ToArray()) > 1e-6);
    }

    internal static double MaxAbsDiff(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        double m = 0;
        for (var i = 0; i < a.Length; i++)
            m = Math.Max(m, Math.Abs((double)a[i] - b[i]));
        return m;
    }
}
