using System.Text.Json.Nodes;
using Pretrain.Onnx.Export;

namespace Pretrain.Onnx.Tests;

/// <summary>Broken checkpoints and settings fail with a message naming the file or flag, and leave no model.onnx behind.</summary>
[Collection("torch")]
public sealed class BadInputTests
{
    [Fact]
    public void Missing_weights_names_the_file()
    {
        using var fx = new TinyCheckpoint("gpt2");
        File.Delete(Path.Combine(fx.StepDir, "model.safetensors"));
        var e = Assert.Throws<OnnxExportException>(() => OnnxExporter.Export(fx.StepDir, fx["out"], new ExportOptions()));
        Assert.Contains("model.safetensors is missing", e.Message, StringComparison.Ordinal);
        AssertNothingWritten(fx);
    }

    [Fact]
    public void Config_that_does_not_match_the_weights_is_refused()
    {
        using var fx = new TinyCheckpoint("llama");
        var path = Path.Combine(fx.StepDir, "config.json");
        var json = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        json["num_hidden_layers"] = 3;
        File.WriteAllText(path, json.ToJsonString());
        var e = Assert.Throws<OnnxExportException>(() => OnnxExporter.Export(fx.StepDir, fx["out"], new ExportOptions()));
        Assert.Contains("does not match", e.Message, StringComparison.Ordinal);
        Assert.Contains("model.layers.2", e.Message, StringComparison.Ordinal);
        AssertNothingWritten(fx);
    }

    [Fact]
    public void Failed_validation_leaves_no_model_behind()
    {
        using var fx = new TinyCheckpoint("gpt2");
        // fp16 storage cannot meet an absurdly tight tolerance.
        var options = new ExportOptions { Dtype = OnnxDtype.Fp16, Tolerance = 1e-12 };
        var e = Assert.Throws<OnnxExportException>(() => OnnxExporter.Export(fx.StepDir, fx["out"], options));
        Assert.Contains("does not match TorchSharp", e.Message, StringComparison.Ordinal);
        AssertNothingWritten(fx);
    }

    [Theory]
    [InlineData(16, -1)]
    [InlineData(17, -1)]
    public void Bad_settings_name_the_flag(int opset, long threshold)
    {
        var options = new ExportOptions { Opset = opset, ExternalDataThreshold = threshold };
        var e = Assert.Throws<OnnxExportException>(options.Check);
        Assert.Contains(opset == 16 ? "--opset" : "--external-data-threshold", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Non_empty_folder_that_is_not_an_export_is_not_replaced()
    {
        using var fx = new TinyCheckpoint("gpt2");
        Directory.CreateDirectory(fx["out"]);
        File.WriteAllText(fx["out/notes.txt"], "mine");
        var e = Assert.Throws<OnnxExportException>(() => OnnxExporter.Export(fx.StepDir, fx["out"], new ExportOptions()));
        Assert.Contains("not empty", e.Message, StringComparison.Ordinal);
        Assert.True(File.Exists(fx["out/notes.txt"]));
    }

    private static void AssertNothingWritten(TinyCheckpoint fx)
    {
        Assert.False(File.Exists(fx["out/model.onnx"]));
        Assert.Empty(Directory.GetDirectories(fx.Root, ".out.tmp-*"));
    }
}
