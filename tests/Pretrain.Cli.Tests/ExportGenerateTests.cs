using System.Text.Json.Nodes;

namespace Pretrain.Cli.Tests;

/// <summary>`pretrain export` then `pretrain generate`: greedy text through ONNX Runtime's cache equals TorchSharp's.</summary>
[Collection("torch")]
public sealed class ExportGenerateTests
{
    [Fact]
    public void Export_with_past_then_greedy_generate_matches_the_checkpoint()
    {
        using var dir = new TempDir();
        var train = CliRunner.Run("run", Path.Combine(CliRunner.RepoRoot, "recipes", "smoke", "llama-tiny-clm.yaml"), "--run-dir", dir["run"]);
        Assert.True(train.Code == 0, train.Err + train.Out);

        var export = CliRunner.Run("export", dir["run"], "--out", dir["onnx"], "--with-past");
        Assert.True(export.Code == 0, export.Err + export.Out);
        Assert.Contains("validated with ONNX Runtime", export.Out, StringComparison.Ordinal);
        var report = JsonNode.Parse(File.ReadAllText(dir["onnx/validation.json"]))!;
        Assert.True((bool)report["passed"]! && (bool)report["with_past"]!);
        Assert.True(File.Exists(dir["onnx/tokenizer/tokenizer_config.json"]));

        string[] flags = ["--prompt", "The ", "--max-new-tokens", "20", "--temperature", "0"];
        var viaOnnx = CliRunner.Run(["generate", dir["onnx"], .. flags]);
        var viaTorch = CliRunner.Run(["generate", dir["run"], .. flags]);
        Assert.True(viaOnnx.Code == 0, viaOnnx.Err);
        Assert.True(viaTorch.Code == 0, viaTorch.Err);
        Assert.StartsWith("The ", viaOnnx.Out, StringComparison.Ordinal);
        Assert.True(viaOnnx.Out.Length > "The \n".Length);
        Assert.Equal(viaTorch.Out, viaOnnx.Out);

        var sampled = CliRunner.Run(["generate", dir["onnx"], "--prompt", "The ", "--temperature", "0.8", "--top-k", "5", "--top-p", "0.9", "--seed", "3"]);
        Assert.True(sampled.Code == 0, sampled.Err);
    }

    [Fact]
    public void Export_of_a_missing_checkpoint_is_one_clear_line_and_writes_nothing()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("export", dir["nope"], "--out", dir["onnx"]);
        Assert.Equal(1, r.Code);
        Assert.Contains("does not exist", r.Err, StringComparison.Ordinal);
        Assert.Single(r.Err.Trim().Split('\n'));
        Assert.False(Directory.Exists(dir["onnx"]));

        var bad = CliRunner.Run("export", dir["nope"], "--out", dir["onnx"], "--dtype", "bf16");
        Assert.Equal(2, bad.Code);
        Assert.Contains("--dtype", bad.Err, StringComparison.Ordinal);
    }
}
