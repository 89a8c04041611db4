using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Pretrain.Data.Datasets;
using Pretrain.Data.Sources;
using Pretrain.Training.Tasks;
using static TorchSharp.torch;

namespace Pretrain.Cli.Commands;

/// <summary>
/// `pretrain eval` and `pretrain predict` for image-classification checkpoints (ViT + head, full or LoRA): images
/// from Parquet ({bytes, path} or binary column) with the checkpoint's eval transform (resize, centre crop, its
/// recorded normalisation), in file order. Eval writes the same JSON as the text path; predict the same Parquet/JSONL.
/// </summary>
internal static class ImageClassifierCommands
{
    /// <summary>Accuracy, macro-F1, loss and confusion on labelled images; --holdout F --seed S scores a run's held-out rows.</summary>
    public static int Eval(string dir, IReadOnlyList<string> data, string imageColumn, string labelColumn, int batch,
        double holdout, int seed, string? outPath, TextWriter stdout)
    {
        var device = CPU;
        var (model, transform) = ImageClassifierCheckpoint.Open(dir, device);
        var files = FileResolver.Resolve(data, "--data");
        var metrics = new ClassificationMetrics(model.Head.NumClasses);
        double lossSum = 0;
        var started = DateTime.UtcNow;
        using (var stream = new ImageStream(new ImageStreamOptions
        {
            Files = files,
            ImageColumn = imageColumn,
            LabelColumn = labelColumn,
            Seed = seed,
            HoldoutFraction = holdout,
            HoldoutSide = holdout > 0,
            Shuffle = false,
            MaxEpochs = 1,
            Augment = false,
            Transform = transform,
            ConfigKey = "--data",
        }))
        {
            foreach (var rows in SampleBatches.Of(stream, batch))
            {
                var probs = Probabilities(model, rows, device);
                for (int i = 0; i < rows.Count; i++)
                {
                    long label = rows[i].Label;
                    if (label < 0 || label >= model.Head.NumClasses)
                        throw new UsageException($"--data: label {label} (row {metrics.Count + i} in file order) is outside 0..{model.Head.NumClasses - 1}, the checkpoint's classes; check --label-column.");
                    metrics.Add(label, ClassifierInference.ArgMax(probs[i]));
                    lossSum -= Math.Log(Math.Max(probs[i][label], 1e-12));
                }
            }
        }
        model.Dispose();
        if (metrics.Count == 0) throw new UsageException("--data matched no images (or --holdout left none).");

        return EvalCommand.WriteReport(dir, files, holdout, seed, metrics, lossSum, outPath, started, "images", stdout);
    }

    /// <summary>Predictions for every image of the files, in file order (no label needed): (row, predicted, probabilities).</summary>
    public static (List<long> Rows, List<long> Predicted, List<float[]> Probabilities, int Classes) Predict(string dir,
        IReadOnlyList<string> data, string imageColumn, int batch)
    {
        var device = CPU;
        var (model, transform) = ImageClassifierCheckpoint.Open(dir, device);
        var files = FileResolver.Resolve(data, "--data");
        var rowIndex = new List<long>();
        var predicted = new List<long>();
        var probabilities = new List<float[]>();
        using (var stream = new ImageStream(new ImageStreamOptions
        {
            Files = files,
            ImageColumn = imageColumn,
            LabelColumn = null,
            Shuffle = false,
            MaxEpochs = 1,
            Augment = false,
            Transform = transform,
            ConfigKey = "--data",
        }))
        {
            foreach (var rows in SampleBatches.Of(stream, batch))
            {
                foreach (var p in Probabilities(model, rows, device))
                {
                    rowIndex.Add(rowIndex.Count);
                    predicted.Add(ClassifierInference.ArgMax(p));
                    probabilities.Add(p);
                }
            }
        }
        int k = model.Head.NumClasses;
        model.Dispose();
        return (rowIndex, predicted, probabilities, k);
    }

    private static float[][] Probabilities(ImageClassifier model, List<ImageSample> rows, Device device)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var probs = nn.functional.softmax(model.call(ImageData.Collate(rows, device)), -1).cpu();
        int k = (int)probs.shape[1];
        var flat = probs.data<float>().ToArray();
        return [.. Enumerable.Range(0, rows.Count).Select(i => flat.AsSpan(i * k, k).ToArray())];
    }
}
