using System.Text.Json.Nodes;

namespace Pretrain.Cli.Tests;

/// <summary>`pretrain export … --quantize int8 --eval-data`: the accuracy of both exports on Parquet rows lands in validation.json.</summary>
[Collection("torch")]
public sealed class ExportQuantizeTests
{
    [Fact]
    public void Int8_export_with_eval_data_records_both_accuracies_and_bench_onnx_compares_it_with_the_float_export()
    {
        using var dir = new TempDir();
        var train = CliRunner.Run("run", Path.Combine(CliRunner.RepoRoot, "recipes", "smoke", "llama-tiny-clm.yaml"), "--run-dir", dir["run"], "--no-export");
        Assert.True(train.Code == 0, train.Err + train.Out);
        var step = dir["run"];
        var synth = CliRunner.Run("data", "synth", "text", "--out", dir["data"], "--rows", "40");
        Assert.True(synth.Code == 0, synth.Err);
        var export = CliRunner.Run("export", step, "--out", dir["int8"], "--quantize", "int8", "--eval-data", dir["data"] + "/*.parquet", "--eval-rows", "12", "--min-agreement", "0.9");
        Assert.True(export.Code == 0, export.Err + export.Out);
        Assert.Matches(@"int8 \(u8, \d+ matmuls\)", export.Out);
        var q = JsonNode.Parse(File.ReadAllText(dir["int8/validation.json"]))!["quantization"]!;
        var eval = q["eval_data"]!;
        Assert.Equal(12, (int)eval["rows"]!);
        Assert.True((long)eval["targets"]! > 0 && (long)eval["targets"]! % 12 == 0);   // equal blocks, next tokens of each
        double f = (double)eval["float_accuracy"]!, i8 = (double)eval["int8_accuracy"]!;
        Assert.InRange(f, 0, 1);
        Assert.InRange(i8, 0, 1);
        Assert.Equal((i8 - f) * 100, (double)eval["delta_points"]!, 9);
        // 6 training steps leave near-flat logits on random ids: 97.5 % agreement measured, so the test asks 90 %.
        Assert.True((double)q["agreement"]! >= 0.9);

        var fp = CliRunner.Run("export", step, "--out", dir["fp32"]);
        Assert.True(fp.Code == 0, fp.Err);
        var bench = CliRunner.Run("bench-onnx", dir["fp32"], dir["int8"], "--seq", "16", "--threads", "1", "--warmup", "1", "--runs", "2");
        Assert.True(bench.Code == 0, bench.Err);
        Assert.Contains(dir["int8"], bench.Out, StringComparison.Ordinal);

        var bad = CliRunner.Run("export", step, "--out", dir["x"], "--eval-data", dir["data"] + "/*.parquet");
        Assert.Equal(2, bad.Code);
        Assert.Contains("add --quantize int8", bad.Err, StringComparison.Ordinal);
    }

    [Fact]
    public void Eval_data_accuracy_of_a_mean_pooled_text_classifiers_float_export_equals_pretrain_eval_on_the_same_rows()
    {
        // The bert-tiny-classify smoke run: mean pooling (config.json pretrain.pooling), seq_len 32, LoRA over the
        // bert-tiny-mlm run, here 20 steps at lr 0.03 on synthetic two-class text (95.5 % on its 200 rows). The export
        // used to pool the first token whatever the checkpoint said: 50.50 % here, 27.80 % against 91.86 % on
        // SpamAssassin. About 20 s.
        using var dir = new TempDir();
        var smoke = Path.Combine(CliRunner.RepoRoot, "recipes", "smoke");
        var b = CliRunner.Run("run", Path.Combine(smoke, "bert-tiny-mlm.yaml"), "--run-dir", dir["base"], "--no-export");
        Assert.True(b.Code == 0, b.Err + b.Out);
        var r = CliRunner.Run("run", Path.Combine(smoke, "bert-tiny-classify.yaml"), "--run-dir", dir["run"], "--set", $"init.checkpoint={dir["base"]}",
            "--set", "train.max_steps=20", "--set", "optimizer.lr=0.03", "--set", "train.eval_every=20", "--set", "train.checkpoint_every=20", "--no-export");
        Assert.True(r.Code == 0, r.Err + r.Out);
        var data = Path.Combine(dir["run"], "data", "train-labelled-*", "*.parquet");

        var e = CliRunner.Run("eval", dir["run"], "--data", data, "--out", dir["eval.json"]);
        Assert.True(e.Code == 0, e.Err + e.Out);
        var want = JsonNode.Parse(File.ReadAllText(dir["eval.json"]))!;
        Assert.Equal(200, (long)want["rows"]!);
        double accuracy = (double)want["accuracy"]!;
        Assert.True(accuracy >= 0.75, $"the fixture should be clearly better than chance; pretrain eval gave {accuracy:P2}");

        var export = CliRunner.Run("export", dir["run"], "--out", dir["int8"], "--quantize", "int8", "--eval-data", data, "--eval-rows", "200", "--min-agreement", "0.9");
        Assert.True(export.Code == 0, export.Err + export.Out);
        var got = JsonNode.Parse(File.ReadAllText(dir["int8/validation.json"]))!["quantization"]!["eval_data"]!;
        Assert.Equal(200, (int)got["rows"]!);
        Assert.Equal(200, (long)got["targets"]!);
        // Same rows, same tokens, same pooling: the same predictions, so the same accuracy to the row.
        Assert.Equal(accuracy, (double)got["float_accuracy"]!, 12);
        Assert.InRange((double)got["int8_accuracy"]!, accuracy - 0.05, accuracy + 0.05);
    }

    [Fact]
    public void Eval_data_on_a_vit_classifier_scores_the_images_as_pretrain_eval_does()
    {
        // vit-tiny-classify over the vit-tiny-mae smoke run (4 classes of synthetic shape images, the recipe's
        // normalisation), here 30 steps at lr 0.005 on all labels (49.17 % on its 240 images, chance 25 %): the float
        // export's --eval-data accuracy on the same images equals pretrain eval's exactly. Before, --eval-data
        // refused image classifiers ("needs the checkpoint's tokenizer"). About 10 s.
        using var dir = new TempDir();
        var smoke = Path.Combine(CliRunner.RepoRoot, "recipes", "smoke");
        var b = CliRunner.Run("run", Path.Combine(smoke, "vit-tiny-mae.yaml"), "--run-dir", dir["base"], "--no-export");
        Assert.True(b.Code == 0, b.Err + b.Out);
        var r = CliRunner.Run("run", Path.Combine(smoke, "vit-tiny-classify.yaml"), "--run-dir", dir["run"], "--set", $"init.checkpoint={dir["base"]}",
            "--set", "train.max_steps=30", "--set", "optimizer.lr=0.005", "--set", "data.train.label_fraction=1",
            "--set", "train.eval_every=30", "--set", "train.checkpoint_every=30", "--no-export");
        Assert.True(r.Code == 0, r.Err + r.Out);
        var data = Path.Combine(dir["run"], "data", "train-synthetic-images-*", "*.parquet");

        var e = CliRunner.Run("eval", dir["run"], "--data", data, "--out", dir["eval.json"]);
        Assert.True(e.Code == 0, e.Err + e.Out);
        var want = JsonNode.Parse(File.ReadAllText(dir["eval.json"]))!;
        Assert.Equal(240, (long)want["rows"]!);
        Assert.True((double)want["accuracy"]! >= 0.4, $"the fixture should be clearly better than chance (25 %); pretrain eval gave {(double)want["accuracy"]!:P2}");

        var export = CliRunner.Run("export", dir["run"], "--out", dir["int8"], "--quantize", "int8", "--eval-data", data, "--eval-rows", "240", "--min-agreement", "0.9");
        Assert.True(export.Code == 0, export.Err + export.Out);
        var got = JsonNode.Parse(File.ReadAllText(dir["int8/validation.json"]))!["quantization"]!["eval_data"]!;
        Assert.Equal(240, (long)got["targets"]!);
        Assert.Equal((double)want["accuracy"]!, (double)got["float_accuracy"]!, 12);
        Assert.InRange((double)got["int8_accuracy"]!, 0, 1);
    }
}
