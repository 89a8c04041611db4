using Pretrain.Models.Heads;
using Pretrain.Models.Peft;
using Pretrain.Models.Text;
using Pretrain.Models.Weights;
using Pretrain.Onnx.Export;
using Pretrain.Onnx.Runtime;
using Pretrain.Onnx.Validation;
using TorchSharp;

namespace Pretrain.Onnx.Tests;

/// <summary>An adapter-only LoRA checkpoint exports as its base with the adapters merged, equal to the adapted model.</summary>
[Collection("torch")]
public sealed class LoraExportTests
{
    private static readonly LoraConfig Lora = new() { Rank = 4, Alpha = 8, Dropout = 0, Targets = ["q_proj", "v_proj", "up_proj"] };

    [Fact]
    public void Lora_adapter_checkpoint_exports_merged_and_equals_the_adapted_model()
    {
        using var fx = new TinyCheckpoint("gpt2");
        using var adapted = Adapted(fx, fx["adapter"], sha: null);
        var result = OnnxExporter.Export(fx["adapter"], fx["out"], new ExportOptions());

        Assert.True(result.Report.Passed);
        Assert.Contains(result.Warnings, w => w.Contains("merged", StringComparison.Ordinal));
        Assert.All(LoraModel.Layers(adapted), l => Assert.False(l.Layer.Merged));
        const int batch = 2, t = 11;
        var ids = Enumerable.Range(0, batch * t).Select(i => (long)(i * 31 % fx.Config.VocabSize)).ToArray();
        var expected = DecoderCheckpoint.Logits(adapted, ids, batch, t);   // unmerged: x·Wᵀ + s·(x·Aᵀ)·Bᵀ
        var baseLogits = DecoderCheckpoint.Logits(fx.Model, ids, batch, t);
        using var session = OnnxDecoderSession.Open(fx["out"]);
        var actual = session.Logits(ids, batch, t);
        Assert.True(EncoderExportTests.MaxAbsDiff(expected, actual) <= 1e-4, $"max |Δ| = {EncoderExportTests.MaxAbsDiff(expected, actual)}");
        Assert.True(EncoderExportTests.MaxAbsDiff(baseLogits, actual) > 1e-2, "the adapters must change the logits");
        Console.WriteLine($"LoRA merged export vs adapted model: max |diff| {EncoderExportTests.MaxAbsDiff(expected, actual):G3}");
    }

    [Fact]
    public void Lora_encoder_classifier_adapter_exports_merged_with_its_head()
    {
        using var fx = TinyModelCheckpoint.Encoder(postNorm: true, pooler: true, classes: null);
        var baseModel = (EncoderLm)fx.Model;
        using var model = new EncoderLm(baseModel.Config, Lora);
        using var classifier = new ClassifierHead(baseModel.Config.EmbedDim, 3);
        var baseWeights = Path.Combine(fx.StepDir, "model.safetensors");
        var weights = Safetensors.Load(baseWeights);
        HfEncoderLayout.LoadHf(model, weights);
        foreach (var w in weights.Values)
            w.Dispose();
        torch.random.manual_seed(4);
        using (torch.no_grad())
        {
            foreach (var (_, layer) in LoraModel.Layers(model))
                layer.LoraB.copy_(torch.randn(layer.LoraB.shape) * 0.2);
        }
        model.eval();
        classifier.eval();
        var dir = fx["adapter"];
        PeftAdapterLayout.Save(dir, model, classifier, new PeftAdapterOptions { BaseModelNameOrPath = fx.StepDir, BaseWeightsFile = baseWeights });
        File.WriteAllText(Path.Combine(dir, "config.json"), HfEncoderLayout.ConfigJson(baseModel.Config, 3).ToJsonString());

        var result = OnnxExporter.Export(dir, fx["out"], new ExportOptions());
        Assert.True(result.Report.Passed);
        Assert.Contains(result.Report.Shapes, s => s.Output == "logits");
        const int batch = 2, t = 7;
        var ids = Enumerable.Range(0, batch * t).Select(i => (long)(i * 11 % 97)).ToArray();
        var mask = Enumerable.Repeat(1L, batch * t).ToArray();
        var expected = EncoderValidator.Reference(model, classifier, ids, mask, new long[batch * t], batch, t)["logits"]; // unmerged
        using var session = OnnxEncoderSession.Open(fx["out/model.onnx"], "logits", threads: 1);
        var diff = EncoderExportTests.MaxAbsDiff(expected, session.Run(ids, batch, t, mask));
        Assert.True(diff <= 1e-4, $"max |Δ logits| = {diff:G3}");
        Console.WriteLine($"LoRA merged encoder classifier export vs adapted model: max |diff| {diff:G3}");
    }

    [Fact]
    public void Adapter_of_another_base_is_refused_and_nothing_is_written()
    {
        using var fx = new TinyCheckpoint("gpt2");
        using var _ = Adapted(fx, fx["adapter"], sha: new string('0', 64));
        var e = Assert.Throws<OnnxExportException>(() => OnnxExporter.Export(fx["adapter"], fx["out"], new ExportOptions()));
        Assert.Contains("adapter", e.Message);
        Assert.False(Directory.Exists(fx["out"]));
    }

    /// <summary>A LoRA decoder on the fixture's base with random (non-zero) adapters, saved adapter-only into <paramref name="dir"/>.</summary>
    private static DecoderLm Adapted(TinyCheckpoint fx, string dir, string? sha)
    {
        var model = new DecoderLm(fx.Config, Lora);
        var baseWeights = Path.Combine(fx.StepDir, "model.safetensors");
        var weights = Safetensors.Load(baseWeights);
        HfDecoderLayout.LoadHf(model, weights);
        foreach (var t in weights.Values)
            t.Dispose();
        torch.random.manual_seed(3);
        using (torch.no_grad())
        {
            foreach (var (_, layer) in LoraModel.Layers(model))
                layer.LoraB.copy_(torch.randn(layer.LoraB.shape) * 0.2);
        }
        model.eval();
        PeftAdapterLayout.Save(dir, model, new PeftAdapterOptions
        {
            BaseModelNameOrPath = fx.StepDir,
            BaseWeightsFile = sha is null ? baseWeights : null,
            BaseSha256 = sha,
            TaskType = "CAUSAL_LM",
        });
        File.Copy(Path.Combine(fx.StepDir, "config.json"), Path.Combine(dir, "config.json"));
        return model;
    }
}
