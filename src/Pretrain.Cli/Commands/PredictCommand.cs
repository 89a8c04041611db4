using System.Globalization;
using System.Text;
using System.Text.Json;
using Parquet;
using Parquet.Schema;
using Pretrain.Data.Datasets;
using Pretrain.Data.Sources;
using Pretrain.Training.Checkpointing;
using Pretrain.Training.Tasks;
using static TorchSharp.torch;

namespace Pretrain.Cli.Commands;

/// <summary>
/// `pretrain predict CHECKPOINT --data GLOB --out FILE`: class predictions of a sequence- or image-classification
/// (ViT; --image-column) checkpoint for every row of the files (in file order; no label needed). Writes Parquet (out ends .parquet: columns row int64,
/// predicted int64, prob_0..prob_{K-1} float) or JSONL ({"row", "predicted", "probabilities"}).
/// </summary>
public static class PredictCommand
{
    public static int Execute(ArgList args, TextWriter stdout)
    {
        if (args.Positionals.Count != 1) throw new UsageException("pretrain predict needs exactly one CHECKPOINT (a run folder or step folder).");
        var data = args.Many("--data");
        if (data.Count == 0) throw new UsageException("pretrain predict needs --data GLOB (Parquet files with a text column).");
        string outPath = args.Option("--out") ?? throw new UsageException("pretrain predict needs --out FILE (.parquet or .jsonl).");
        string textColumn = args.Option("--text-column") ?? "text";
        string imageColumn = args.Option("--image-column") ?? "image";
        int batch = args.Int("--batch", 32);
        args.RejectUnknown();
        if (batch < 1) throw new UsageException("--batch must be at least 1.");

        var dir = CheckpointLocator.Resolve(args.Positionals[0]).Directory;
        if (ImageClassifierCheckpoint.IsImageClassifier(dir))   // a ViT classifier: images, not text
        {
            var (rows, preds, probs, classes) = ImageClassifierCommands.Predict(dir, data, imageColumn, batch);
            return Write(outPath, rows, preds, probs, classes, dir, stdout);
        }
        var device = CPU;
        var (model, tokenizer, seqLen) = ClassifierCheckpoint.Open(dir, device);
        int k = model.Head.NumClasses;
        var files = FileResolver.Resolve(data, "--data");
        var rowIndex = new List<long>();
        var predicted = new List<long>();
        var probabilities = new List<float[]>();
        using (var source = ParquetTextSource.Open(files, textColumn, "--data"))
        {
            long global = 0;
            var pending = new List<LabelledText>(batch);
            void Flush()
            {
                if (pending.Count == 0) return;
                foreach (var p in ClassifierInference.Probabilities(model, tokenizer, pending, device))
                {
                    rowIndex.Add(rowIndex.Count);
                    predicted.Add(ClassifierInference.ArgMax(p));
                    probabilities.Add(p);
                }
                pending.Clear();
            }
            foreach (var unit in source.Units)
            {
                var texts = source.ReadRowGroupAsync(unit.File, unit.RowGroup).GetAwaiter().GetResult();
                for (int r = 0; r < texts.Length; r++, global++)
                {
                    var ids = tokenizer.Encode(texts[r] ?? "");
                    if (ids.Length > seqLen - 2) Array.Resize(ref ids, seqLen - 2);
                    pending.Add(new LabelledText(ids, 0, unit.File, unit.RowGroup, r));
                    if (pending.Count == batch) Flush();
                }
            }
            Flush();
        }
        model.Dispose();
        return Write(outPath, rowIndex, predicted, probabilities, k, dir, stdout);
    }

    private static int Write(string outPath, List<long> rowIndex, List<long> predicted, List<float[]> probabilities, int k, string dir, TextWriter stdout)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(outPath))!);
        // Written beside --out and renamed over it: a signal or failure never leaves half a file there.
        StagedOutput.WriteFile(outPath, path =>
        {
            if (outPath.EndsWith(".parquet", StringComparison.OrdinalIgnoreCase))
                WriteParquet(path, rowIndex, predicted, probabilities, k);
            else
                WriteJsonl(path, rowIndex, predicted, probabilities);
        });
        var counts = Enumerable.Range(0, k).Select(c => predicted.Count(p => p == c));
        stdout.WriteLine($"predicted {predicted.Count} rows with {dir} (per class: {string.Join(", ", counts)}); wrote {outPath}");
        return 0;
    }

    private static void WriteJsonl(string path, List<long> rows, List<long> predicted, List<float[]> probabilities)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < rows.Count; i++)
            sb.Append(JsonSerializer.Serialize(new { row = rows[i], predicted = predicted[i], probabilities = probabilities[i] })).Append('\n');
        File.WriteAllText(path, sb.ToString());
    }

    private static void WriteParquet(string path, List<long> rows, List<long> predicted, List<float[]> probabilities, int k)
    {
        var rowField = new DataField<long>("row", false);
        var predField = new DataField<long>("predicted", false);
        var probFields = Enumerable.Range(0, k).Select(c => new DataField<float>(string.Create(CultureInfo.InvariantCulture, $"prob_{c}"), false)).ToArray();
        using var stream = File.Create(path);
        var writer = ParquetWriter.CreateAsync(new ParquetSchema([rowField, predField, .. probFields]), stream).GetAwaiter().GetResult();
        using (var group = writer.CreateRowGroup())
        {
            group.WriteAsync<long>(rowField, rows.ToArray().AsMemory()).GetAwaiter().GetResult();
            group.WriteAsync<long>(predField, predicted.ToArray().AsMemory()).GetAwaiter().GetResult();
            for (int c = 0; c < k; c++)
                group.WriteAsync<float>(probFields[c], probabilities.Select(p => p[c]).ToArray().AsMemory()).GetAwaiter().GetResult();
        }
        writer.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }
}
