using System.Text.Json.Nodes;
using Pretrain.Data.Datasets;
using Pretrain.Data.Sources;
using Pretrain.Data.Text;
using Pretrain.Onnx.Validation;
using Pretrain.Training.Tasks;

namespace Pretrain.Cli.Commands;

/// <summary>
/// `pretrain export … --quantize int8 --eval-data GLOB`: the Parquet rows the int8 and float exports are both scored on,
/// tokenized with the checkpoint's own tokenizer: a classifier's [CLS] text [SEP] with its label column, or a
/// decoder's packed token blocks (next-token accuracy); an image classifier's (ViT) image column, transformed with
/// the checkpoint's normalisation. At most <c>--eval-rows</c> rows (default 1000), read in file
/// order, so the work is bounded whatever the glob matches.
/// </summary>
internal static class ExportEvalData
{
    public static IReadOnlyList<QuantizeEvalRow> Read(string checkpoint, string glob, string textColumn, string labelColumn, int maxRows,
        string imageColumn = "image")
    {
        if (maxRows < 1)
            throw new UsageException("--eval-rows must be at least 1.");
        if (ImageClassifierCheckpoint.IsImageClassifier(checkpoint))
            return ReadImages(checkpoint, glob, imageColumn, labelColumn, maxRows);
        var tokenizerDir = Path.Combine(checkpoint, "tokenizer");
        if (!Directory.Exists(tokenizerDir))
            throw new UsageException($"--eval-data needs the checkpoint's tokenizer, and {checkpoint} has no tokenizer/ folder.");
        var tokenizer = TokenizerFactory.Load(tokenizerDir);
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(checkpoint, "config.json")))!;
        var type = (string?)config["model_type"] ?? "";
        int positions = (int?)config["n_positions"] ?? (int?)config["max_position_embeddings"] ?? 128;
        var files = FileResolver.Resolve([glob], "--eval-data");
        var rows = new List<QuantizeEvalRow>();
        if (type is "gpt2" or "llama")
        {
            using var blocks = new PackedTextStream(new PackedTextOptions
            {
                Files = files, TextColumn = textColumn, BlockSize = Math.Min(positions, 128), Shuffle = false, MaxEpochs = 1, ConfigKey = "--eval-data",
            }, tokenizer);
            while (rows.Count < maxRows && blocks.TryNext(out var block, out _))
                rows.Add(new QuantizeEvalRow([.. block.Select(t => (long)t)], -1));
            return rows;
        }
        if (tokenizer is not ISpecialTokens { ClsId: { } cls, SepId: { } sep })
            throw new UsageException($"--eval-data scores classifiers on [CLS] text [SEP]; the tokenizer of {checkpoint} has no [CLS]/[SEP].");
        // The length the classifier was trained and is evaluated at (`pretrain eval` reads pretrain.seq_len too).
        int seqLen = Math.Min((int?)config["pretrain"]?["seq_len"] ?? Math.Min(positions, 128), positions);
        int? classes = config["id2label"] is JsonObject labels ? labels.Count : (int?)config["num_labels"];
        using var stream = new LabelledTextStream(new LabelledTextOptions
        {
            Files = files, TextColumn = textColumn, LabelColumn = labelColumn, NumClasses = classes,
            MaxTokens = seqLen - 2, Shuffle = false, MaxEpochs = 1, ConfigKey = "--eval-data",
        }, tokenizer);
        while (rows.Count < maxRows && stream.TryNext(out var row, out _))
            rows.Add(new QuantizeEvalRow([cls, .. row.Ids.Select(t => (long)t), sep], (int)row.Label));
        return rows;
    }

    /// <summary>
    /// An image classifier's rows: the image column decoded and transformed as `pretrain eval` does (resize, centre
    /// crop, the checkpoint's recorded mean / std; no augmentation), with the label column.
    /// </summary>
    private static List<QuantizeEvalRow> ReadImages(string checkpoint, string glob, string imageColumn, string labelColumn, int maxRows)
    {
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(checkpoint, "config.json")))!;
        int classes = (int?)config["num_labels"] ?? 0;
        var rows = new List<QuantizeEvalRow>();
        using var stream = new ImageStream(new ImageStreamOptions
        {
            Files = FileResolver.Resolve([glob], "--eval-data"), ImageColumn = imageColumn, LabelColumn = labelColumn,
            Shuffle = false, MaxEpochs = 1, Augment = false, Transform = ImageClassifierCheckpoint.EvalTransform(checkpoint),
            ConfigKey = "--eval-data",
        });
        while (rows.Count < maxRows && stream.TryNext(out var image, out _))
        {
            if (image.Label < 0 || image.Label >= classes)
                throw new UsageException($"--eval-data: label {image.Label} (image {rows.Count} in file order) is outside 0..{classes - 1}, the checkpoint's classes; check --label-column.");
            rows.Add(new QuantizeEvalRow([], (int)image.Label) { Pixels = image.Pixels });
        }
        return rows;
    }
}
