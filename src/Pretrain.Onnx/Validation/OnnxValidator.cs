using Pretrain.Models.Text;
using Pretrain.Onnx.Export;
using Pretrain.Onnx.Runtime;

namespace Pretrain.Onnx.Validation;

/// <summary>
/// Runs an export in ONNX Runtime on random token ids of several batch/sequence shapes and compares the logits with
/// the TorchSharp model's. A <c>--with-past</c> export is also run in two steps (prompt, then continuation through the
/// cache) and compared with the full-sequence forward.
/// </summary>
public static class OnnxValidator
{
    /// <summary>Checks <paramref name="modelPath"/> against <paramref name="model"/>; returns per-shape results.</summary>
    public static IReadOnlyList<ValidationShape> Check(string modelPath, DecoderLm model, double tolerance, int seed = 1234)
    {
        var c = model.Config;
        var random = new Random(seed);
        var results = new List<ValidationShape>();
        using var session = OnnxDecoderSession.Open(modelPath);
        foreach (var (batch, wanted) in new[] { (1, 1), (2, 7), (3, 16) })
        {
            var t = Math.Min(wanted, c.MaxSeqLen);
            var ids = RandomIds(random, batch * t, c.VocabSize);
            var expected = DecoderCheckpoint.Logits(model, ids, batch, t);
            var actual = session.Logits(ids, batch, t);
            results.Add(Compare(batch, t, 0, expected, actual, tolerance));
        }
        if (session.WithPast && c.MaxSeqLen >= 2)
        {
            // Prompt of p tokens, then s more through the cache; compare the continuation's logits.
            const int batch = 2;
            var p = Math.Min(5, c.MaxSeqLen - 1);
            var s = Math.Min(3, c.MaxSeqLen - p);
            var ids = RandomIds(random, batch * (p + s), c.VocabSize);
            var full = DecoderCheckpoint.Logits(model, ids, batch, p + s);
            using var cache = session.NewCache(batch);
            session.Step(Columns(ids, batch, p + s, 0, p), batch, p, cache);
            var actual = session.Step(Columns(ids, batch, p + s, p, s), batch, s, cache);
            var expected = Positions(full, batch, p + s, p, s, c.VocabSize);
            results.Add(Compare(batch, s, p, expected, actual, tolerance));
        }
        return results;
    }

    /// <summary>Max |expected − actual| (NaN counts as infinite) against the tolerance rule, as one result row.</summary>
    internal static ValidationShape Compare(int batch, int t, int past, float[] expected, float[] actual, double tolerance,
        string output = "logits", int padding = 0)
    {
        if (expected.Length != actual.Length)
            throw new OnnxExportException($"ONNX Runtime returned {actual.Length} values of {output} for batch {batch}, sequence {t}; TorchSharp {expected.Length}.");
        double diff = 0, scale = 0;
        for (var i = 0; i < expected.Length; i++)
        {
            var d = Math.Abs((double)expected[i] - actual[i]);
            diff = double.IsNaN(d) ? double.PositiveInfinity : Math.Max(diff, d);
            scale = Math.Max(scale, Math.Abs((double)expected[i]));
        }
        return new ValidationShape(batch, t, past, diff, scale, diff <= tolerance * Math.Max(1, scale), output, padding);
    }

    private static long[] RandomIds(Random random, int n, int vocab) => Enumerable.Range(0, n).Select(_ => (long)random.Next(vocab)).ToArray();

    /// <summary>Columns [from, from + count) of a (B, T) row-major array.</summary>
    internal static long[] Columns(long[] ids, int batch, int t, int from, int count)
    {
        var result = new long[batch * count];
        for (var b = 0; b < batch; b++)
            Array.Copy(ids, b * t + from, result, b * count, count);
        return result;
    }

    /// <summary>Positions [from, from + count) of (B, T, V) row-major logits.</summary>
    internal static float[] Positions(float[] logits, int batch, int t, int from, int count, int vocab)
    {
        var result = new float[batch * count * vocab];
        for (var b = 0; b < batch; b++)
            Array.Copy(logits, (b * t + from) * vocab, result, b * count * vocab, count * vocab);
        return result;
    }
}
