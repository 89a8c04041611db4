using Pretrain.Data.Datasets;
using Pretrain.Training.Probes;
using static TorchSharp.torch;

namespace Pretrain.Training.Tasks;

/// <summary>
/// objective.probe at each evaluation: frozen features of the first probe_train_rows labelled train rows (file
/// order, eval transform, held-out rows skipped) fit a linear probe and/or a k-NN classifier, scored on the first
/// probe_eval_rows labelled eval rows → eval_probe_linear, eval_probe_knn. The rows' pixels are read once and
/// cached; features are recomputed each time. With the linear probe, eval_probe_linear_pixels is the same probe
/// on the raw (normalised) pixels — the honest baseline, computed once.
/// </summary>
public sealed class ImageDataProbe(string kind, int trainRows, int evalRows, Func<ImageStream> openTrain,
    Func<ImageStream> openEval, Device device, long seed)
{
    private (float[] Pixels, long[] Labels, long[] Shape)? _train, _eval;
    private double? _pixelsLinear;

    /// <summary>Rows actually read for fitting and for scoring (fewer than asked when the data has fewer); 0 before <see cref="Run"/>.</summary>
    public (int Train, int Eval) RowsUsed => (_train?.Labels.Length ?? 0, _eval?.Labels.Length ?? 0);

    /// <summary>Whether a probe runs at all (objective.probe is not none).</summary>
    public bool Enabled => kind != "none";

    /// <summary>
    /// Probe accuracies of <paramref name="features"/> ((B, C, H, W) images → (B, d) pooled features; the caller
    /// has put the model in eval mode). Opens its own dispose scopes.
    /// </summary>
    public Dictionary<string, double> Run(Func<Tensor, Tensor> features)
    {
        var result = new Dictionary<string, double>();
        if (!Enabled) return result;
        _train ??= Read(openTrain, trainRows, "data.train");
        _eval ??= Read(openEval, evalRows, "data.eval");
        using var scope = NewDisposeScope();
        var trainY = tensor(_train.Value.Labels);
        var evalY = tensor(_eval.Value.Labels);
        int classes = (int)Math.Max(_train.Value.Labels.Max(), _eval.Value.Labels.Max()) + 1;
        var trainX = Features(_train.Value, features);
        var evalX = Features(_eval.Value, features);
        if (kind is "linear" or "both")
        {
            result["eval_probe_linear"] = LinearProbe.Accuracy(trainX, trainY, evalX, evalY, classes, seed: seed);
            _pixelsLinear ??= LinearProbe.Accuracy(Flat(_train.Value), trainY, Flat(_eval.Value), evalY, classes, seed: seed);
            result["eval_probe_linear_pixels"] = _pixelsLinear.Value;
        }
        if (kind is "knn" or "both")
            result["eval_probe_knn"] = KnnProbe.Accuracy(trainX, trainY, evalX, evalY, classes);
        return result;
    }

    private static (float[], long[], long[]) Read(Func<ImageStream> open, int rows, string key)
    {
        var samples = new List<ImageSample>(rows);
        using (var stream = open())
        {
            while (samples.Count < rows && stream.TryNext(out var s, out _))
            {
                if (s.Label >= 0) samples.Add(s);
            }
        }
        if (samples.Count < 2)
            throw new InvalidOperationException($"objective.probe needs labelled images in {key}; found {samples.Count}. Set the split's label_column, or objective.probe: none.");
        if (samples.Select(s => s.Label).Distinct().Count() < 2)
            throw new InvalidOperationException($"The probe's {samples.Count} rows of {key} all have label {samples[0].Label}: rows are read row group by row group, so a file sorted by label gives one class. Shuffle the rows across row groups, or use more rows.");
        var s0 = samples[0];
        int size = s0.Pixels.Length;
        var pixels = new float[samples.Count * size];
        for (int i = 0; i < samples.Count; i++)
            Array.Copy(samples[i].Pixels, 0, pixels, i * size, size);
        return (pixels, samples.Select(s => s.Label).ToArray(), [samples.Count, s0.Channels, s0.Height, s0.Width]);
    }

    private static Tensor Flat((float[] Pixels, long[] Labels, long[] Shape) rows) =>
        tensor(rows.Pixels, [rows.Shape[0], rows.Pixels.Length / rows.Shape[0]]);

    /// <summary>Features of all rows, 256 images at a time, gathered on the CPU: (rows, d).</summary>
    private Tensor Features((float[] Pixels, long[] Labels, long[] Shape) rows, Func<Tensor, Tensor> features)
    {
        using var _ = no_grad();
        var images = tensor(rows.Pixels, rows.Shape);
        var parts = new List<Tensor>();
        for (long start = 0; start < rows.Shape[0]; start += 256)
        {
            using var chunk = NewDisposeScope();
            long len = Math.Min(256, rows.Shape[0] - start);
            parts.Add(chunk.MoveToOuter(features(images.narrow(0, start, len).to(device)).to(float32).cpu()));
        }
        return cat(parts, 0);
    }
}
