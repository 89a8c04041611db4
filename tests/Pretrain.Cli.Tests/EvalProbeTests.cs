using System.Text.Json.Nodes;
using Pretrain.Data.Synthetic;

namespace Pretrain.Cli.Tests;

/// <summary>pretrain eval CHECKPOINT --data GLOB --probe linear|knn on tiny smoke runs (a ViT and a BERT encoder).</summary>
[Collection("torch")]
public sealed class EvalProbeTests
{
    [Fact]
    public void Probes_a_vit_and_a_text_encoder_and_rejects_bad_options_clearly()
    {
        using var dir = new TempDir();
        var smoke = Path.Combine(CliRunner.RepoRoot, "recipes", "smoke");
        var v = CliRunner.Run("run", Path.Combine(smoke, "vit-tiny-mae.yaml"), "--run-dir", dir["vit"],
            "--set", "train.max_steps=2", "--set", "train.eval_every=100", "--set", "train.checkpoint_every=2");
        Assert.True(v.Code == 0, v.Err + v.Out);
        var images = Path.Combine(dir["vit"], "data", "train-synthetic-images-*", "*.parquet");

        var p = CliRunner.Run("eval", dir["vit"], "--data", images, "--probe", "linear", "--probe-train-rows", "96",
            "--probe-eval-rows", "48", "--out", dir["probe.json"]);
        Assert.True(p.Code == 0, p.Err + p.Out);
        Assert.Contains("linear accuracy", p.Out);
        var json = JsonNode.Parse(File.ReadAllText(dir["probe.json"]))!;
        Assert.InRange(json["linear_accuracy"]!.GetValue<double>(), 0, 1);
        Assert.InRange(json["linear_pixels_accuracy"]!.GetValue<double>(), 0, 1);
        Assert.Contains("recipe.yaml", json["features"]!.GetValue<string>());   // the run's own eval transform
        int trainUsed = json["train_rows_used"]!.GetValue<int>(), evalUsed = json["eval_rows_used"]!.GetValue<int>();
        Assert.InRange(trainUsed, 2, 96);
        Assert.InRange(evalUsed, 1, 48);
        Assert.Contains($"fitted on {trainUsed} rows, scored on {evalUsed}", p.Out);

        var k = CliRunner.Run("eval", dir["vit"], "--data", images, "--eval-data", images, "--probe", "knn", "--probe-train-rows", "64", "--probe-eval-rows", "32");
        Assert.True(k.Code == 0, k.Err + k.Out);
        Assert.Matches(@"knn accuracy (0|1)\.\d{4}", k.Out);

        var missing = CliRunner.Run("eval", dir["vit"], "--data", images, "--probe", "knn", "--label-column", "class_id");
        Assert.Equal(1, missing.Code);
        Assert.Contains("class_id", missing.Err);
        Assert.DoesNotContain("   at ", missing.Err);

        var unknown = CliRunner.Run("eval", dir["vit"], "--data", images, "--probe", "svm");
        Assert.NotEqual(0, unknown.Code);
        Assert.Contains("--probe must be linear, knn or both, got 'svm'", unknown.Err);

        // A text encoder (the bert-tiny-mlm smoke run, 2 steps) on labelled text rows.
        var b = CliRunner.Run("run", Path.Combine(smoke, "bert-tiny-mlm.yaml"), "--run-dir", dir["bert"],
            "--set", "train.max_steps=2", "--set", "train.eval_every=100", "--set", "train.checkpoint_every=2");
        Assert.True(b.Code == 0, b.Err + b.Out);
        SyntheticLabelledText.Write(dir["text"], 120, 1, 40, 4);
        var t = CliRunner.Run("eval", dir["bert"], "--data", Path.Combine(dir["text"], "*.parquet"), "--probe", "both",
            "--pooling", "mean", "--probe-train-rows", "80", "--probe-eval-rows", "40", "--out", dir["text.json"]);
        Assert.True(t.Code == 0, t.Err + t.Out);
        var text = JsonNode.Parse(File.ReadAllText(dir["text.json"]))!;
        Assert.InRange(text["linear_accuracy"]!.GetValue<double>(), 0, 1);
        Assert.InRange(text["knn_accuracy"]!.GetValue<double>(), 0, 1);
        Assert.Contains("mean pooling", text["features"]!.GetValue<string>());
    }
}
