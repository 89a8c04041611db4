using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Pretrain.Data.Datasets;
using Pretrain.Data.Sources;
using Pretrain.Training.Checkpointing;
using Pretrain.Training.Tasks;
using static TorchSharp.torch;

namespace Pretrain.Cli.Commands;

/// <summary>
/// `pretrain eval CHECKPOINT --data GLOB`: accuracy, macro-F1 and the confusion matrix of a sequence- or
/// image-classification (ViT, <see cref="ImageClassifierCommands"/>; --image-column) checkpoint (full, or LoRA adapter over its base) on labelled Parquet rows; printed and written as JSON.
/// --holdout F --seed S scores only the rows a run with data.eval.fraction F and train.seed S held out.
/// </summary>
public static class EvalCommand
{
    public static int Execute(ArgList args, TextWriter stdout)
    {
        if (args.Option("--probe") is { } probe) return EvalProbe.Execute(args, probe, stdout);   // frozen-feature probes
        if (args.Positionals.Count != 1) throw new UsageException("pretrain eval needs exactly one CHECKPOINT (a run folder or step folder).");
        var data = args.Many("--data");
        if (data.Count == 0) throw new UsageException("pretrain eval needs --data GLOB (labelled Parquet files).");
        string textColumn = args.Option("--text-column") ?? "text", labelColumn = args.Option("--label-column") ?? "label";
        int batch = args.Int("--batch", 32);
        double holdout = args.Double("--holdout", 0);
        int seed = args.Int("--seed", 1337);
        string? outPath = args.Option("--out");
        string imageColumn = args.Option("--image-column") ?? "image";
        args.RejectUnknown();
        if (batch < 1) throw new UsageException("--batch must be at least 1.");
        if (holdout is < 0 or >= 1) throw new UsageException($"--holdout must be in [0, 1), got {holdout}.");

        var dir = CheckpointLocator.Resolve(args.Positionals[0]).Directory;
        if (ImageClassifierCheckpoint.IsImageClassifier(dir))   // a ViT classifier: images, not text
            return ImageClassifierCommands.Eval(dir, data, imageColumn, labelColumn, batch, holdout, seed, outPath, stdout);
        var device = CPU;
        var (model, tokenizer, seqLen) = ClassifierCheckpoint.Open(dir, device);
        var files = FileResolver.Resolve(data, "--data");
        var metrics = new ClassificationMetrics(model.Head.NumClasses);
        double lossSum = 0;
        var started = DateTime.UtcNow;
        using (var stream = new LabelledTextStream(new LabelledTextOptions
        {
            Files = files,
            TextColumn = textColumn,
            LabelColumn = labelColumn,
            NumClasses = model.Head.NumClasses,
            MaxTokens = seqLen - 2,
            Seed = seed,
            HoldoutFraction = holdout,
            HoldoutSide = holdout > 0,
            Shuffle = false,
            MaxEpochs = 1,
            ConfigKey = "--data",
        }, tokenizer))
        {
            foreach (var rows in SampleBatches.Of(stream, batch))
            {
                var probs = ClassifierInference.Probabilities(model, tokenizer, rows, device);
                for (int i = 0; i < rows.Count; i++)
                {
                    metrics.Add(rows[i].Label, ClassifierInference.ArgMax(probs[i]));
                    lossSum -= Math.Log(Math.Max(probs[i][rows[i].Label], 1e-12));
                }
            }
        }
        model.Dispose();
        if (metrics.Count == 0) throw new UsageException("--data matched no rows (or --holdout left none).");

        return WriteReport(dir, files, holdout, seed, metrics, lossSum, outPath, started, "rows", stdout);
    }

    /// <summary>Writes the eval report (JSON at <paramref name="outPath"/>, default ./eval.json) and prints its summary and confusion counts.</summary>
    internal static int WriteReport(string dir, IReadOnlyList<string> files, double holdout, int seed, ClassificationMetrics metrics,
        double lossSum, string? outPath, DateTime started, string what, TextWriter stdout)
    {
        var k = metrics.NumClasses;
        var confusion = new JsonArray([.. Enumerable.Range(0, k).Select(i => (JsonNode)new JsonArray([.. Enumerable.Range(0, k).Select(j => (JsonNode)metrics.Confusion[i, j])]))]);
        var result = new JsonObject
        {
            ["checkpoint"] = Path.GetFullPath(dir),
            ["data"] = new JsonArray([.. files.Select(f => (JsonNode)f)]),
            ["holdout"] = holdout,
            ["seed"] = seed,
            ["rows"] = metrics.Count,
            ["loss"] = lossSum / metrics.Count,
            ["accuracy"] = metrics.Accuracy,
            ["macro_f1"] = metrics.MacroF1,
            ["confusion"] = confusion,
            ["confusion_axes"] = "rows: true label, columns: predicted label",
            ["seconds"] = (DateTime.UtcNow - started).TotalSeconds,
        };
        outPath ??= Path.Combine(Directory.GetCurrentDirectory(), "eval.json");
        StagedOutput.WriteFile(outPath, path => File.WriteAllText(path, result.ToJsonString(new JsonSerializerOptions { WriteIndented = true })));
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"eval {dir}: {metrics.Count} {what}  accuracy {metrics.Accuracy:P2}  macro-F1 {metrics.MacroF1:F4}  loss {lossSum / metrics.Count:F4}"));
        for (int i = 0; i < k; i++)
            stdout.WriteLine($"  true {i}: " + string.Join(" ", Enumerable.Range(0, k).Select(j => $"{metrics.Confusion[i, j],7}")));
        stdout.WriteLine($"wrote {outPath}");
        return 0;
    }
}
