using System.Text.Json.Nodes;
using Parquet;

namespace Pretrain.Cli.Tests;

/// <summary>pretrain eval and predict on the bert-tiny-classify smoke run (LoRA adapter over the bert-tiny-mlm run).</summary>
[Collection("torch")]
public sealed class ClassifyCommandsTests
{
    [Fact]
    public async Task Eval_reproduces_the_runs_holdout_metrics_and_predict_writes_every_row()
    {
        using var dir = new TempDir();
        var smoke = Path.Combine(CliRunner.RepoRoot, "recipes", "smoke");
        var b = CliRunner.Run("run", Path.Combine(smoke, "bert-tiny-mlm.yaml"), "--run-dir", dir["base"]);
        Assert.True(b.Code == 0, b.Err + b.Out);
        var r = CliRunner.Run("run", Path.Combine(smoke, "bert-tiny-classify.yaml"), "--run-dir", dir["run"], "--set", $"init.checkpoint={dir["base"]}");
        Assert.True(r.Code == 0, r.Err + r.Out);
        var data = Path.Combine(dir["run"], "data", "train-labelled-*", "*.parquet");

        var e = CliRunner.Run("eval", dir["run"], "--data", data, "--holdout", "0.2", "--seed", "1337", "--out", dir["eval.json"]);
        Assert.True(e.Code == 0, e.Err + e.Out);
        Assert.Contains("macro-F1", e.Out);
        var json = JsonNode.Parse(File.ReadAllText(dir["eval.json"]))!;
        var last = File.ReadAllLines(Path.Combine(dir["run"], "metrics.jsonl")).Select(l => JsonNode.Parse(l)!).Last(n => n["eval_accuracy"] is not null);
        Assert.Equal(last["eval_accuracy"]!.GetValue<double>(), json["accuracy"]!.GetValue<double>(), 9);
        Assert.Equal(last["eval_rows"]!.GetValue<double>(), json["rows"]!.GetValue<double>());
        var confusion = json["confusion"]!.AsArray();
        Assert.Equal(2, confusion.Count);
        Assert.Equal(json["rows"]!.GetValue<long>(), confusion.Sum(row => row!.AsArray().Sum(c => c!.GetValue<long>())));

        var p = CliRunner.Run("predict", dir["run"], "--data", data, "--out", dir["pred.parquet"]);
        Assert.True(p.Code == 0, p.Err + p.Out);
        await using var reader = await ParquetReader.CreateAsync(dir["pred.parquet"]);
        Assert.Equal(["row", "predicted", "prob_0", "prob_1"], reader.Schema.DataFields.Select(f => f.Name));
        Assert.Equal(200, reader.Metadata!.RowGroups.Sum(g => g.NumRows));

        var bad = CliRunner.Run("eval", Path.Combine(dir["base"]), "--data", data);
        Assert.NotEqual(0, bad.Code);
        Assert.Contains("num_labels", bad.Err + bad.Out);
    }
}
