using System.Text.Json.Nodes;

namespace Pretrain.Cli.Tests;

/// <summary>`pretrain export` of a BERT MLM run (the encoder, MLM head left out) and of an adapter-only LoRA run (merged onto its base).</summary>
[Collection("torch")]
public sealed class ExportEncoderLoraTests
{
    [Fact]
    public void Export_of_a_bert_mlm_run_is_the_validated_encoder()
    {
        using var dir = new TempDir();
        var train = CliRunner.Run("run", Path.Combine(CliRunner.RepoRoot, "recipes", "smoke", "bert-tiny-mlm.yaml"), "--run-dir", dir["run"]);
        Assert.True(train.Code == 0, train.Err + train.Out);

        var export = CliRunner.Run("export", dir["run"], "--out", dir["onnx"]);
        Assert.True(export.Code == 0, export.Err + export.Out);
        Assert.Contains("MLM head", export.Out, StringComparison.Ordinal);
        var report = JsonNode.Parse(File.ReadAllText(dir["onnx/validation.json"]))!;
        Assert.True((bool)report["passed"]!);
        var outputs = report["shapes"]!.AsArray().Select(s => (string)s!["output"]!).Distinct().ToList();
        Assert.Contains("last_hidden_state", outputs);
        Assert.Contains("embeddings", outputs);
    }

    [Fact]
    public void Export_of_a_lora_run_merges_the_adapters_onto_the_base()
    {
        using var dir = new TempDir();
        var smoke = Path.Combine(CliRunner.RepoRoot, "recipes", "smoke");
        var base_ = CliRunner.Run("run", Path.Combine(smoke, "gpt-tiny-clm.yaml"), "--run-dir", dir["base"]);
        Assert.True(base_.Code == 0, base_.Err + base_.Out);
        var lora = CliRunner.Run("run", Path.Combine(smoke, "gpt-tiny-lora.yaml"), "--run-dir", dir["lora"], "--set", $"init.checkpoint={dir["base"]}");
        Assert.True(lora.Code == 0, lora.Err + lora.Out);

        var export = CliRunner.Run("export", dir["lora"], "--out", dir["onnx"]);
        Assert.True(export.Code == 0, export.Err + export.Out);
        Assert.Contains("merged", export.Out, StringComparison.Ordinal);
        var report = JsonNode.Parse(File.ReadAllText(dir["onnx/validation.json"]))!;
        Assert.True((bool)report["passed"]!);
        Assert.True(File.Exists(dir["onnx/model.onnx"]));
    }
}
