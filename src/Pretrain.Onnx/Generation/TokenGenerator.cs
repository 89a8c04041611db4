using Pretrain.Models.Text;
using Pretrain.Onnx.Export;
using Pretrain.Onnx.Runtime;

namespace Pretrain.Onnx.Generation;

/// <summary>
/// Autoregressive decoding for one sequence. The model is a function from the whole sequence so far to the last
/// position's logits; <see cref="Torch"/> recomputes the full forward each step, <see cref="Onnx"/> does too for a
/// plain export and feeds only the new tokens through the key/value cache for a <c>--with-past</c> one.
/// </summary>
public static class TokenGenerator
{
    /// <summary>
    /// Appends up to <c>MaxNewTokens</c> tokens to <paramref name="prompt"/>, stopping after <paramref name="eosId"/> or
    /// at <paramref name="maxLength"/> tokens in all; returns the new tokens only.
    /// </summary>
    public static List<int> Generate(Func<IReadOnlyList<long>, float[]> lastLogits, IReadOnlyList<int> prompt,
        GenerationOptions options, int? eosId, int maxLength)
    {
        options.Check();
        if (prompt.Count == 0)
            throw new ArgumentException("The prompt has no tokens.", nameof(prompt));
        var sequence = prompt.Select(t => (long)t).ToList();
        var generated = new List<int>();
        var random = new Random(options.Seed);
        while (generated.Count < options.MaxNewTokens && sequence.Count < maxLength)
        {
            var logits = lastLogits(sequence);
            if (options.VocabLimit is int limit && limit < logits.Length)
                logits = logits[..limit];
            var next = Sample(logits, options, random);
            generated.Add(next);
            sequence.Add(next);
            if (next == eosId)
                break;
        }
        return generated;
    }

    /// <summary>The TorchSharp model, full forward per step.</summary>
    public static Func<IReadOnlyList<long>, float[]> Torch(DecoderLm model) => sequence =>
    {
        var logits = DecoderCheckpoint.Logits(model, [.. sequence], 1, sequence.Count);
        return logits[^model.Config.VocabSize..];
    };

    /// <summary>
    /// An ONNX export: with a cache (the caller owns it; see <see cref="OnnxDecoderSession.NewCache"/>) only the tokens
    /// not yet cached are run; without one, the whole sequence.
    /// </summary>
    public static Func<IReadOnlyList<long>, float[]> Onnx(OnnxDecoderSession session, OnnxKvCache? cache) => sequence =>
    {
        float[] logits;
        if (cache is null)
        {
            logits = session.Logits([.. sequence], 1, sequence.Count);
        }
        else
        {
            var fresh = sequence.Skip(cache.Length).ToArray();
            logits = session.Step(fresh, 1, fresh.Length, cache);
        }
        return logits[^session.VocabSize..];
    };

    /// <summary>Greedy at temperature 0; otherwise temperature, then top-k, then top-p (nucleus), then a draw.</summary>
    internal static int Sample(float[] logits, GenerationOptions options, Random random)
    {
        if (options.Temperature == 0)
            return ArgMax(logits);
        var order = Enumerable.Range(0, logits.Length).OrderByDescending(i => logits[i]).ToArray();
        if (options.TopK > 0)
            order = order[..Math.Min(options.TopK, order.Length)];
        var max = logits[order[0]];
        var weights = order.Select(i => Math.Exp((logits[i] - max) / options.Temperature)).ToArray();
        var total = weights.Sum();
        var keep = weights.Length;
        if (options.TopP < 1)
        {
            double mass = 0;
            for (keep = 0; keep < weights.Length && mass < options.TopP * total; keep++)
                mass += weights[keep];
        }
        var r = random.NextDouble() * weights.Take(keep).Sum();
        for (var i = 0; i < keep; i++)
        {
            r -= weights[i];
            if (r <= 0)
                return order[i];
        }
        return order[keep - 1];
    }

    private static int ArgMax(float[] logits)
    {
        var best = 0;
        for (var i = 1; i < logits.Length; i++)
        {
            if (logits[i] > logits[best])
                best = i;
        }
        return best;
    }
}
