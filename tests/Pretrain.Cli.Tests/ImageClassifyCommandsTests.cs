using System.Text.Json.Nodes;
using Parquet;

namespace Pretrain.Cli.Tests;

/// <summary>pretrain eval and predict on the vit-tiny-lora-classify smoke run (LoRA adapter over the vit-tiny-mae run).</summary>
[Collection("torch")]
public sealed class ImageClassifyCommandsTests
{
    [Fact]
    public async Task Eval_reproduces_the_runs_holdout_metrics_and_predict_writes_every_image()
    {
        using var dir = new TempDir();
        var smoke = Path.Combine(CliRunner.RepoRoot, "recipes", "smoke");
        var b = CliRunner.Run("run", Path.Combine(smoke, "vit-tiny-mae.yaml"), "--run-dir", dir["base"]);
        Assert.True(b.Code == 0, b.Err + b.Out);
        var r = CliRunner.Run("run", Path.Combine(smoke, "vit-tiny-lora-classify.yaml"), "--run-dir", dir["run"], "--set", $"init.checkpoint={dir["base"]}");
        Assert.True(r.Code == 0, r.Err + r.Out);
        Assert.Contains("no missing or unexpected keys", r.Out + r.Err);
        var data = Path.Combine(dir["run"], "data", "train-synthetic-images-*", "*.parquet");

        var e = CliRunner.Run("eval", dir["run"], "--data", data, "--holdout", "0.25", "--seed", "1337", "--out", dir["eval.json"]);
        Assert.True(e.Code == 0, e.Err + e.Out);
        var json = JsonNode.Parse(File.ReadAllText(dir["eval.json"]))!;
        var last = File.ReadAllLines(Path.Combine(dir["run"], "metrics.jsonl")).Select(l => JsonNode.Parse(l)!).Last(n => n["eval_accuracy"] is not null);
        Assert.Equal(last["eval_accuracy"]!.GetValue<double>(), json["accuracy"]!.GetValue<double>(), 9);
        Assert.Equal(last["eval_macro_f1"]!.GetValue<double>(), json["macro_f1"]!.GetValue<double>(), 9);
        Assert.Equal(last["eval_loss"]!.GetValue<double>(), json["loss"]!.GetValue<double>(), 4);
        Assert.Equal(last["eval_rows"]!.GetValue<double>(), json["rows"]!.GetValue<double>());

        var p = CliRunner.Run("predict", dir["run"], "--data", data, "--out", dir["pred.parquet"]);
        Assert.True(p.Code == 0, p.Err + p.Out);
        await using var reader = await ParquetReader.CreateAsync(dir["pred.parquet"]);
        Assert.Equal(["row", "predicted", "prob_0", "prob_1", "prob_2", "prob_3"], reader.Schema.DataFields.Select(f => f.Name));
        Assert.Equal(240, reader.Metadata!.RowGroups.Sum(g => g.NumRows));
    }
}
