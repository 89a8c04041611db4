using System.Text.Json.Nodes;

namespace Pretrain.Cli.Tests;

/// <summary>`pretrain export … --optimize`: the CLI flag reaches the exporter, prints the fused ops, and refuses --quantize int8 in one line.</summary>
[Collection("torch")]
public sealed class ExportOptimizeTests
{
    [Fact]
    public void Optimize_flag_writes_fused_ops_into_validation_json_and_refuses_int8()
    {
        using var dir = new TempDir();
        var train = CliRunner.Run("run", Path.Combine(CliRunner.RepoRoot, "recipes", "smoke", "gpt-tiny-clm.yaml"), "--run-dir", dir["run"], "--no-export");
        Assert.True(train.Code == 0, train.Err + train.Out);
        var export = CliRunner.Run("export", dir["run"], "--out", dir["fused"], "--with-past", "--optimize");
        Assert.True(export.Code == 0, export.Err + export.Out);
        Assert.Contains("fused (--optimize):", export.Out, StringComparison.Ordinal);
        var o = JsonNode.Parse(File.ReadAllText(dir["fused/validation.json"]))!["optimization"]!;
        Assert.True((int)o["fused_ops"]!["MultiHeadAttention"]! > 0);
        Assert.True((double)o["max_abs_diff"]! <= 1e-4);

        var both = CliRunner.Run("export", dir["run"], "--out", dir["x"], "--optimize", "--quantize", "int8");
        Assert.NotEqual(0, both.Code);
        Assert.Contains("--optimize and --quantize int8", both.Err, StringComparison.Ordinal);
        Assert.Single(both.Err.Trim().Split('\n'));
    }
}
