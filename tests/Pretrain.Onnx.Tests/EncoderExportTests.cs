using System.Text.Json.Nodes;
using Microsoft.ML.OnnxRuntime;
using Pretrain.Models.Text;
using Pretrain.Models.Vision;
using Pretrain.Onnx.Export;
using Pretrain.Onnx.Validation;

namespace Pretrain.Onnx.Tests;

/// <summary>Encoders and ViTs export by model_type, and one export matches TorchSharp within 1e-4 on every validated shape and output.</summary>
[Collection("torch")]
public sealed class EncoderExportTests
{
    [Theory]
    [InlineData(true, true, null)]   // BERT post-LN with a pooler
    [InlineData(true, false, 3)]     // post-LN, no pooler, a classifier on the first token
    [InlineData(false, true, 2)]     // pre-LN, a pooler and a classifier on it
    [InlineData(false, false, null)] // pre-LN, bare
    public void Encoder_export_matches_TorchSharp_across_shapes(bool postNorm, bool pooler, int? classes)
    {
        using var fx = TinyModelCheckpoint.Encoder(postNorm, pooler, classes);
        var result = OnnxExporter.Export(fx.StepDir, fx["out"], new ExportOptions());

        Assert.True(result.Report.Passed);
        string[] outputs = [.. classes is null ? [] : new[] { "logits" }, "last_hidden_state", .. pooler ? new[] { "pooler_output" } : [], "embeddings"];
        using (var session = new InferenceSession(fx["out/model.onnx"]))
        {
            Assert.Equal(outputs, session.OutputMetadata.Keys);
            Assert.Equal(["input_ids", "attention_mask", "token_type_ids"], session.InputMetadata.Keys);
        }
        Assert.Equal(3, result.Report.Shapes.Select(s => (s.Batch, s.Sequence)).Distinct().Count());
        Assert.Contains(result.Report.Shapes, s => s.Padding > 0);
        Assert.Equal(outputs.Order(), result.Report.Shapes.Select(s => s.Output).Distinct().Order());
        Assert.All(result.Report.Shapes, s => Assert.True(s.MaxAbsDiff <= 1e-4, s.ToString()));
        Console.WriteLine($"encoder post-LN {postNorm} pooler {pooler} classes {classes}: max |diff| {result.Report.Shapes.Max(s => s.MaxAbsDiff):G3}");
        var json = JsonNode.Parse(File.ReadAllText(fx["out/validation.json"]))!;
        Assert.True((bool)json["passed"]!);
    }

    [Fact]
    public void Encoder_export_of_a_longer_batch_with_padding_matches_TorchSharp()
    {
        using var fx = TinyModelCheckpoint.Encoder(postNorm: true, pooler: true, classes: 4);
        OnnxExporter.Export(fx.StepDir, fx["out"], new ExportOptions { Validate = false });
        const int batch = 4, t = 23;
        var ids = Enumerable.Range(0, batch * t).Select(i => (long)(i * 13 % 97)).ToArray();
        var mask = Enumerable.Range(0, batch * t).Select(i => i % t < t - 3 * (i / t) ? 1L : 0L).ToArray();
        var types = Enumerable.Range(0, batch * t).Select(i => (long)(i % 3)).ToArray();
        var expected = EncoderValidator.Reference((EncoderLm)fx.Model, fx.Classifier, ids, mask, types, batch, t);
        using var session = new InferenceSession(fx["out/model.onnx"]);
        using var outputs = session.Run([
            NamedOnnxValue.CreateFromTensor("input_ids", new Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<long>(ids, [batch, t])),
            NamedOnnxValue.CreateFromTensor("attention_mask", new Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<long>(mask, [batch, t])),
            NamedOnnxValue.CreateFromTensor("token_type_ids", new Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<long>(types, [batch, t])),
        ]);
        foreach (var name in new[] { "logits", "pooler_output", "embeddings" })
        {
            var got = outputs.Single(o => o.Name == name).AsEnumerable<float>().ToArray();
            Assert.True(MaxAbsDiff(expected[name], got) <= 1e-4, $"{name}: {MaxAbsDiff(expected[name], got)}");
        }
    }

    [Theory]
    [InlineData(true, "cls", "learned", 5)]
    [InlineData(true, "mean", "sincos", null)]
    [InlineData(false, "mean", "learned", 3)]
    [InlineData(false, "mean", "sincos", null)]
    public void Vit_export_matches_TorchSharp_for_several_batches(bool classToken, string pool, string positions, int? classes)
    {
        using var fx = TinyModelCheckpoint.Vit(classToken, pool, positions, classes);
        var result = OnnxExporter.Export(fx.StepDir, fx["out"], new ExportOptions());

        Assert.True(result.Report.Passed);
        string[] outputs = [.. classes is null ? [] : new[] { "logits" }, "last_hidden_state", "embeddings"];
        using (var session = new InferenceSession(fx["out/model.onnx"]))
        {
            Assert.Equal(outputs, session.OutputMetadata.Keys);
            Assert.Equal(["pixel_values"], session.InputMetadata.Keys);
            Assert.Equal([-1, 3, 16, 16], session.InputMetadata["pixel_values"].Dimensions);
        }
        Assert.Equal([1, 2, 3], result.Report.Shapes.Select(s => s.Batch).Distinct().Order());
        Assert.All(result.Report.Shapes, s => Assert.True(s.MaxAbsDiff <= 1e-4, s.ToString()));
        Console.WriteLine($"vit class token {classToken} pool {pool} positions {positions} classes {classes}: max |diff| {result.Report.Shapes.Max(s => s.MaxAbsDiff):G3}");
        var model = (VisionTransformer)fx.Model;
        Assert.Equal(model.PrefixTokens + 16, 16 + (classToken ? 1 : 0));
    }

    [Theory]
    [InlineData("encoder")]
    [InlineData("vit")]
    public void Fp16_encoder_and_vit_exports_pass_their_tolerance(string kind)
    {
        using var fx = kind == "vit" ? TinyModelCheckpoint.Vit(true, "cls", "learned", 3) : TinyModelCheckpoint.Encoder(true, true, 3);
        var result = OnnxExporter.Export(fx.StepDir, fx["out"], new ExportOptions { Dtype = OnnxDtype.Fp16 });
        Assert.True(result.Report.Passed);
        Assert.Equal(1e-2, result.Report.Tolerance);
    }

    [Fact]
    public void With_past_is_refused_for_an_encoder()
    {
        using var fx = TinyModelCheckpoint.Encoder(postNorm: true, pooler: false, classes: null);
        var e = Assert.Throws<OnnxExportException>(() => OnnxExporter.Export(fx.StepDir, fx["out"], new ExportOptions { WithPast = true }));
        Assert.Contains("--with-past", e.Message);
        Assert.False(Directory.Exists(fx["out"]));
    }

    internal static double MaxAbsDiff(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        double d = 0;
        for (var i = 0; i < a.Length; i++)
            d = Math.Max(d, Math.Abs((double)a[i] - b[i]));
        return d;
    }
}
