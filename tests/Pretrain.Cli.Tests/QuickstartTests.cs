using System.Text.Json.Nodes;

namespace Pretrain.Cli.Tests;

/// <summary>README's main command on the built-in default: it runs, learns, checkpoints and summarises.</summary>
[Collection("torch")]
public sealed class QuickstartTests
{
    [Fact]
    public void Quickstart_learns_and_leaves_checkpoint_and_summary()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("run", Path.Combine(CliRunner.RepoRoot, "recipes", "quickstart.yaml"), "--run-dir", dir["run"]);
        Assert.True(r.Code == 0, r.Err + r.Out);
        var summary = JsonNode.Parse(File.ReadAllText(Path.Combine(dir["run"], "summary.json")))!.AsObject();
        double first = summary["first_eval_loss"]!.GetValue<double>();
        double last = summary["eval_loss"]!.GetValue<double>();
        // Byte-level loss starts near ln(256) ≈ 5.5; the synthetic text's structure must bring it well down.
        Assert.True(last < 0.6 * first, $"eval loss fell only from {first:F3} to {last:F3}");
        Assert.Equal(200, summary["steps"]!.GetValue<long>());
        Assert.True(File.Exists(Path.Combine(dir["run"], "checkpoints", "step-00000200", "model.safetensors")));
    }

    [Fact]
    public void Info_prints_versions_and_a_self_check()
    {
        var r = CliRunner.Run("info");
        Assert.Equal(0, r.Code);
        Assert.Contains("TorchSharp", r.Out);
        Assert.Contains("sum = 8", r.Out);
    }
}

/// <summary>A recipe's export section ends the run with a checked ONNX model.</summary>
[Collection("torch")]
public sealed class RecipeExportStepTests
{
    [Fact]
    public void Run_with_an_export_section_leaves_a_validated_onnx_model()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("run", Path.Combine(CliRunner.RepoRoot, "recipes", "smoke", "gpt-tiny-clm.yaml"),
            "--run-dir", dir["run"], "--set", "export.with_past=true");
        Assert.True(r.Code == 0, r.Err + r.Out);
        var onnx = Path.Combine(dir["run"], "onnx");
        Assert.True(File.Exists(Path.Combine(onnx, "model.onnx")));
        var validation = JsonNode.Parse(File.ReadAllText(Path.Combine(onnx, "validation.json")))!.AsObject();
        Assert.True(validation["passed"]!.GetValue<bool>());
        Assert.Contains("ONNX Runtime", r.Out);
    }

    [Fact]
    public void No_export_skips_the_recipes_export_step()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("run", Path.Combine(CliRunner.RepoRoot, "recipes", "smoke", "gpt-tiny-clm.yaml"),
            "--run-dir", dir["run"], "--set", "export.with_past=true", "--no-export");
        Assert.True(r.Code == 0, r.Err + r.Out);
        Assert.True(File.Exists(Path.Combine(dir["run"], "checkpoints", "latest")));
        Assert.False(Directory.Exists(Path.Combine(dir["run"], "onnx")));
        Assert.DoesNotContain("ONNX Runtime", r.Out);
    }
}
