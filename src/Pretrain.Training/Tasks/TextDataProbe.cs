using Pretrain.Data.Datasets;
using Pretrain.Data.Text;
using Pretrain.Training.Probes;
using static TorchSharp.torch;

namespace Pretrain.Training.Tasks;

/// <summary>
/// The text counterpart of <see cref="ImageDataProbe"/>: frozen sentence embeddings of the first
/// <c>trainRows</c> labelled rows of one stream fit a linear probe and/or a k-NN classifier, scored on the first
/// <c>evalRows</c> rows of another → eval_probe_linear, eval_probe_knn. Rows are read and tokenised once and cached
/// ([CLS] ids [SEP], padded per batch with an attention mask); features are recomputed on each call.
/// </summary>
public sealed class TextDataProbe(string kind, int trainRows, int evalRows, Func<LabelledTextStream> openTrain,
    Func<LabelledTextStream> openEval, ITextTokenizer tokenizer, Device device, long seed)
{
    private const int Batch = 64;
    private readonly ISpecialTokens _specials = tokenizer as ISpecialTokens is { ClsId: not null, SepId: not null, PadId: not null } s ? s
        : throw new InvalidOperationException("A text probe needs a tokenizer with [CLS], [SEP] and [PAD] tokens.");
    private List<LabelledText>? _train, _eval;

    /// <summary>Rows actually read for fitting and for scoring (fewer than asked when the data has fewer); 0 before <see cref="Run"/>.</summary>
    public (int Train, int Eval) RowsUsed => (_train?.Count ?? 0, _eval?.Count ?? 0);

    /// <summary>
    /// Probe accuracies of <paramref name="features"/> (ids (B, T), mask (B, T) → (B, d); the caller has put the
    /// model in eval mode). Opens its own dispose scopes.
    /// </summary>
    public Dictionary<string, double> Run(Func<Tensor, Tensor, Tensor> features)
    {
        var result = new Dictionary<string, double>();
        if (kind == "none") return result;
        _train ??= Read(openTrain, trainRows, "train");
        _eval ??= Read(openEval, evalRows, "eval");
        using var scope = NewDisposeScope();
        var trainY = tensor(_train.Select(r => r.Label).ToArray());
        var evalY = tensor(_eval.Select(r => r.Label).ToArray());
        int classes = (int)Math.Max(_train.Max(r => r.Label), _eval.Max(r => r.Label)) + 1;
        var trainX = Features(_train, features);
        var evalX = Features(_eval, features);
        if (kind is "linear" or "both")
            result["eval_probe_linear"] = LinearProbe.Accuracy(trainX, trainY, evalX, evalY, classes, seed: seed);
        if (kind is "knn" or "both")
            result["eval_probe_knn"] = KnnProbe.Accuracy(trainX, trainY, evalX, evalY, classes);
        return result;
    }

    private static List<LabelledText> Read(Func<LabelledTextStream> open, int rows, string side)
    {
        var samples = new List<LabelledText>(rows);
        using (var stream = open())
        {
            while (samples.Count < rows && stream.TryNext(out var s, out _))
            {
                if (s.Label >= 0) samples.Add(s);
            }
        }
        if (samples.Count < 2)
            throw new InvalidOperationException($"The probe needs at least two labelled {side} rows; found {samples.Count}. Give it more labelled rows (or objective.probe: none).");
        if (samples.Select(s => s.Label).Distinct().Count() < 2)
            throw new InvalidOperationException($"The probe's {samples.Count} {side} rows all have label {samples[0].Label}: the rows are read row group by row group, so a file sorted by label gives one class. Use a row-shuffled copy (e.g. tools/data/spam-shuffled.sh) or more rows.");
        return samples;
    }

    /// <summary>Features of all rows, <see cref="Batch"/> at a time, gathered on the CPU as float32: (rows, d).</summary>
    private Tensor Features(List<LabelledText> rows, Func<Tensor, Tensor, Tensor> features)
    {
        using var _ = no_grad();
        var parts = new List<Tensor>();
        for (int start = 0; start < rows.Count; start += Batch)
        {
            using var chunk = NewDisposeScope();
            var batch = rows.GetRange(start, Math.Min(Batch, rows.Count - start));
            var (ids, mask, _) = ClassifyBatch.Collate(batch, _specials.ClsId!.Value, _specials.SepId!.Value, _specials.PadId!.Value, device);
            parts.Add(chunk.MoveToOuter(features(ids, mask).to(float32).cpu()));
        }
        return cat(parts, 0);
    }
}
