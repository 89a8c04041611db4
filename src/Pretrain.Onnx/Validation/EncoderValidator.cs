using Pretrain.Models.Heads;
using Pretrain.Models.Text;
using Pretrain.Models.Vision;
using TorchSharp;

namespace Pretrain.Onnx.Validation;

/// <summary>
/// Runs an encoder or ViT export in ONNX Runtime and compares every output with TorchSharp's. Encoders: batch ×
/// sequence (1, 5), (2, 9) with the second row right-padded by 4 (last_hidden_state compared on real tokens only),
/// and (3, 16); segment ids 0 then 1 where the model has them. ViT: batches of 1, 2 and 3 random images.
/// </summary>
public static class EncoderValidator
{
    /// <summary>Checks an encoder export; returns one row per shape and output.</summary>
    public static IReadOnlyList<ValidationShape> Check(string modelPath, EncoderLm model, ClassifierHead? classifier, double tolerance, int seed = 1234)
    {
        var c = model.Config;
        var random = new Random(seed);
        var results = new List<ValidationShape>();
        using var session = new OrtOutputs(modelPath);
        foreach (var (batch, wanted, pad) in new[] { (1, 5, 0), (2, 9, 4), (3, 16, 0) })
        {
            var t = Math.Min(wanted, c.MaxSeqLen);
            var padding = Math.Min(pad, t - 1);
            var ids = Enumerable.Range(0, batch * t).Select(_ => (long)random.Next(c.VocabSize)).ToArray();
            var mask = Enumerable.Range(0, batch * t).Select(i => i / t == 1 && i % t >= t - padding ? 0L : 1L).ToArray();
            var types = Enumerable.Range(0, batch * t).Select(i => c.TypeVocabSize > 1 && i % t >= t / 2 ? 1L : 0L).ToArray();
            long[] shape = [batch, t];
            var inputs = new Dictionary<string, (Array, long[])> { ["input_ids"] = (ids, shape), ["attention_mask"] = (mask, shape) };
            if (session.Inputs.Contains("token_type_ids"))
                inputs["token_type_ids"] = (types, shape);
            var actual = session.Run(inputs);
            var expected = Reference(model, classifier, ids, mask, c.TypeVocabSize > 0 ? types : null, batch, t);
            foreach (var (name, reference) in expected)
            {
                if (!actual.TryGetValue(name, out var got))
                    throw new Export.OnnxExportException($"{modelPath} has no output '{name}'.");
                var want = reference;
                if (name == "last_hidden_state")
                    (want, got) = (RealTokens(want, mask, c.EmbedDim), RealTokens(got, mask, c.EmbedDim));
                results.Add(OnnxValidator.Compare(batch, t, 0, want, got, tolerance, name, padding));
            }
        }
        return results;
    }

    /// <summary>Checks a ViT export on batches of 1, 2 and 3 images.</summary>
    public static IReadOnlyList<ValidationShape> Check(string modelPath, VisionTransformer model, ClassifierHead? classifier, double tolerance, int seed = 1234)
    {
        var c = model.Config;
        var results = new List<ValidationShape>();
        using var session = new OrtOutputs(modelPath);
        torch.random.manual_seed(seed);
        foreach (var batch in new[] { 1, 2, 3 })
        {
            long[] shape = [batch, c.NumChannels, c.ImageSize, c.ImageSize];
            float[] pixels;
            Dictionary<string, float[]> expected;
            using (torch.NewDisposeScope())
            using (torch.no_grad())
            {
                var x = torch.randn(shape);
                pixels = x.data<float>().ToArray();
                var tokens = model.call(x);
                var pooled = model.Pool(tokens);
                expected = new() { ["last_hidden_state"] = Flat(tokens), ["embeddings"] = Flat(pooled) };
                if (classifier is not null)
                    expected["logits"] = Flat(classifier.call(pooled));
            }
            var actual = session.Run(new Dictionary<string, (Array, long[])> { ["pixel_values"] = (pixels, shape) });
            foreach (var (name, want) in expected)
            {
                if (!actual.TryGetValue(name, out var got))
                    throw new Export.OnnxExportException($"{modelPath} has no output '{name}'.");
                results.Add(OnnxValidator.Compare(batch, 0, 0, want, got, tolerance, name));
            }
        }
        return results;
    }

    /// <summary>TorchSharp's outputs under the export's names: last_hidden_state, pooler_output, embeddings, logits.</summary>
    public static Dictionary<string, float[]> Reference(EncoderLm model, ClassifierHead? classifier, long[] ids, long[] mask, long[]? types, int batch, int t)
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var m = torch.tensor(mask, [batch, t], torch.ScalarType.Int64);
        var hidden = model.call(torch.tensor(ids, [batch, t], torch.ScalarType.Int64), m,
            types is null ? null : torch.tensor(types, [batch, t], torch.ScalarType.Int64));
        var result = new Dictionary<string, float[]>(StringComparer.Ordinal) { ["last_hidden_state"] = Flat(hidden) };
        torch.Tensor? pooled = null;
        if (model.Config.Pooler)
            result["pooler_output"] = Flat(pooled = model.Pool(hidden));
        var mean = EncoderLm.MeanPool(hidden, m);
        result["embeddings"] = Flat(mean);
        if (classifier is not null)
            result["logits"] = Flat(classifier.call(classifier.Pooling switch { "mean" => mean, "cls" => hidden[.., 0], _ => pooled ?? hidden[.., 0] }));
        return result;
    }

    private static float[] Flat(torch.Tensor t) => t.to_type(torch.ScalarType.Float32).contiguous().data<float>().ToArray();

    /// <summary>The rows of (B·T, C) values whose mask is 1.</summary>
    internal static float[] RealTokens(float[] values, long[] mask, int width)
    {
        var result = new List<float>(values.Length);
        for (var i = 0; i < mask.Length; i++)
        {
            if (mask[i] != 0)
                result.AddRange(values.AsSpan(i * width, width).ToArray());
        }
        return [.. result];
    }
}
