using Pretrain.Onnx.Export;

namespace Pretrain.Onnx.Validation;

/// <summary>
/// Compares an int8 export with the float export of the same model in ONNX Runtime on the same inputs, by the task's
/// metric: decoders, top-1 next token at every position of batches (1, 1), (2, 7), (3, 16) and (8, 32) (sequences
/// capped at the model's positions); classifiers, top-1 class on 1 + 2 + 3 + 32 rows of lengths 5, 9, 16 and 16
/// (ViT: images); encoders without a head, the share of pooled embeddings with cosine ≥ 0.99. With eval rows, the
/// accuracy of both on them (text or image classifiers' labels, decoders' next tokens).
/// </summary>
internal static class QuantizationCheck
{
    private const double CosineAgree = 0.99;

    public static (string Metric, int Compared, double Agreement, double MaxAbsDiff, EvalAccuracy? Eval) Run(
        string floatPath, string int8Path, ExportModel model, IReadOnlyList<QuantizeEvalRow>? evalRows, int seed = 4321)
    {
        if (evalRows is { Count: > 0 } && model.Decoder is null && model.Classifier is null)
            throw new OnnxExportException($"--eval-data scores classifiers and decoders; this is a {model.ModelType} {model.Family} without a classifier head.");
        using var f = new OrtOutputs(floatPath);
        using var q = new OrtOutputs(int8Path);
        var random = new Random(seed);
        var (metric, output, width) = Task(model);
        long agree = 0, compared = 0;
        double maxDiff = 0;
        foreach (var inputs in Inputs(model, f.Inputs, random))
        {
            var a = f.Run(inputs)[output];
            var b = q.Run(inputs)[output];
            for (var i = 0; i < a.Length; i++)
                maxDiff = Math.Max(maxDiff, double.IsNaN(b[i]) ? double.PositiveInfinity : Math.Abs(a[i] - b[i]));
            for (var row = 0; row < a.Length / width; row++)
            {
                var x = a.AsSpan(row * width, width);
                var y = b.AsSpan(row * width, width);
                agree += metric == "embedding_cosine_0.99" ? (Cosine(x, y) >= CosineAgree ? 1 : 0) : (ArgMax(x) == ArgMax(y) ? 1 : 0);
                compared++;
            }
        }
        var eval = evalRows is { Count: > 0 } ? Accuracy(f, q, model, evalRows, width) : null;
        return (metric, (int)compared, (double)agree / compared, maxDiff, eval);
    }

    /// <summary>(metric, output compared, values per compared row).</summary>
    private static (string Metric, string Output, int Width) Task(ExportModel model) =>
        model.Decoder is { } d ? ("top1_next_token", "logits", d.Config.VocabSize)
        : model.Classifier is { } c ? ("top1_class", "logits", c.NumClasses)
        : ("embedding_cosine_0.99", "embeddings", model.Encoder?.Config.EmbedDim ?? model.Vit!.Config.EmbedDim);

    private static IEnumerable<Dictionary<string, (Array, long[])>> Inputs(ExportModel model, IReadOnlyCollection<string> names, Random random)
    {
        if (model.Vit is { } vit)
        {
            var c = vit.Config;
            foreach (var batch in new[] { 1, 2, 3, 32 })
            {
                long[] shape = [batch, c.NumChannels, c.ImageSize, c.ImageSize];
                var pixels = new float[shape.Aggregate(1L, (x, y) => x * y)];
                for (var i = 0; i < pixels.Length; i++)
                    pixels[i] = (float)Normal(random);
                yield return new() { ["pixel_values"] = (pixels, shape) };
            }
            yield break;
        }
        var (vocab, maxLen) = model.Decoder is { } d ? (d.Config.VocabSize, d.Config.MaxSeqLen) : (model.Encoder!.Config.VocabSize, model.Encoder.Config.MaxSeqLen);
        var shapes = model.Decoder is not null ? new[] { (1, 1), (2, 7), (3, 16), (8, 32) } : [(1, 5), (2, 9), (3, 16), (32, 16)];
        foreach (var (batch, wanted) in shapes)
        {
            var t = Math.Min(wanted, maxLen);
            var ids = Enumerable.Range(0, batch * t).Select(_ => (long)random.Next(vocab)).ToArray();
            yield return TextInputs(model, names, ids, batch, t);
        }
    }

    private static Dictionary<string, (Array, long[])> TextInputs(ExportModel model, IReadOnlyCollection<string> names, long[] ids, int batch, int t)
    {
        long[] shape = [batch, t];
        var inputs = new Dictionary<string, (Array, long[])>
        {
            ["input_ids"] = (ids, shape),
            ["attention_mask"] = (Enumerable.Repeat(1L, batch * t).ToArray(), shape),
        };
        if (names.Contains("token_type_ids"))
            inputs["token_type_ids"] = (new long[batch * t], shape);
        if (model.Decoder is { } d)
        {
            // A --with-past export starts from an empty cache.
            foreach (var name in names.Where(n => n.StartsWith("past_key_values.", StringComparison.Ordinal)))
                inputs[name] = (Array.Empty<float>(), new long[] { batch, d.Config.KvHeads, 0, d.Config.HeadDim });
        }
        return inputs;
    }

    /// <summary>Accuracy of both exports on the eval rows, one row at a time (rows have their own lengths).</summary>
    private static EvalAccuracy Accuracy(OrtOutputs f, OrtOutputs q, ExportModel model, IReadOnlyList<QuantizeEvalRow> rows, int width)
    {
        long targets = 0, rightF = 0, rightQ = 0;
        foreach (var row in rows)
        {
            var t = row.Ids.Length;
            var inputs = model.Vit is { } vit ? ImageInputs(vit.Config, row) : TextInputs(model, f.Inputs, row.Ids, 1, t);
            var a = f.Run(inputs)["logits"];
            var b = q.Run(inputs)["logits"];
            if (row.Label >= 0)
            {
                targets++;
                rightF += ArgMax(a) == row.Label ? 1 : 0;
                rightQ += ArgMax(b) == row.Label ? 1 : 0;
                continue;
            }
            for (var p = 0; p + 1 < t; p++)
            {
                targets++;
                rightF += ArgMax(a.AsSpan(p * width, width)) == row.Ids[p + 1] ? 1 : 0;
                rightQ += ArgMax(b.AsSpan(p * width, width)) == row.Ids[p + 1] ? 1 : 0;
            }
        }
        if (targets == 0)
            throw new OnnxExportException("--eval-data gave no row to score (decoder rows need at least two tokens).");
        return new EvalAccuracy(rows.Count, targets, (double)rightF / targets, (double)rightQ / targets);
    }

    private static Dictionary<string, (Array, long[])> ImageInputs(Pretrain.Models.Vision.VitConfig c, QuantizeEvalRow row)
    {
        long[] shape = [1, c.NumChannels, c.ImageSize, c.ImageSize];
        if (row.Pixels is not { } pixels || pixels.Length != c.NumChannels * c.ImageSize * c.ImageSize)
            throw new OnnxExportException($"--eval-data: an image row has {row.Pixels?.Length ?? 0} values; the ViT takes {c.NumChannels} × {c.ImageSize} × {c.ImageSize}.");
        return new() { ["pixel_values"] = (pixels, shape) };
    }

    internal static int ArgMax(ReadOnlySpan<float> x)
    {
        var best = 0;
        for (var i = 1; i < x.Length; i++)
        {
            if (x[i] > x[best])
                best = i;
        }
        return best;
    }

    private static double Cosine(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        double dot = 0, nx = 0, ny = 0;
        for (var i = 0; i < x.Length; i++)
        {
            dot += (double)x[i] * y[i];
            nx += (double)x[i] * x[i];
            ny += (double)y[i] * y[i];
        }
        return dot / Math.Max(Math.Sqrt(nx * ny), 1e-30);
    }

    private static double Normal(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
