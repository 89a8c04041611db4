using Pretrain.Models.Text;
using Pretrain.Onnx.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Onnx.Import;

/// <summary>
/// Runs an <see cref="EncoderLm"/> on plain arrays and compares it with ONNX Runtime: how an import is checked
/// against the file it came from.
/// </summary>
public static class EncoderOutputs
{
    /// <summary>TorchSharp last_hidden_state (B·T·C, row-major) of a batch; mask/types null mean all 1 / all 0.</summary>
    public static float[] Run(EncoderLm model, long[] inputIds, int batch, int sequence, long[]? attentionMask = null, long[]? tokenTypeIds = null)
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var ids = torch.tensor(inputIds, [batch, sequence], ScalarType.Int64);
        var mask = attentionMask is null ? null : torch.tensor(attentionMask, [batch, sequence], ScalarType.Int64);
        var types = tokenTypeIds is null ? null : torch.tensor(tokenTypeIds, [batch, sequence], ScalarType.Int64);
        return model.call(ids, mask, types).to_type(ScalarType.Float32).contiguous().data<float>().ToArray();
    }

    /// <summary>
    /// Largest |TorchSharp − ONNX Runtime| over the hidden states of real tokens (padding positions, whose values
    /// depend on each implementation's mask constant, are left out).
    /// </summary>
    public static double MaxAbsDiff(EncoderLm model, OnnxEncoderSession session, long[] inputIds, int batch, int sequence,
        long[]? attentionMask = null, long[]? tokenTypeIds = null)
    {
        var ours = Run(model, inputIds, batch, sequence, attentionMask, tokenTypeIds);
        var theirs = session.Run(inputIds, batch, sequence, attentionMask, tokenTypeIds);
        if (ours.Length != theirs.Length)
            throw new OnnxImportException($"ONNX Runtime returned {theirs.Length} values for batch {batch}, sequence {sequence}; TorchSharp {ours.Length}.");
        var width = ours.Length / (batch * sequence);
        double worst = 0;
        for (var i = 0; i < ours.Length; i++)
        {
            if (attentionMask is not null && attentionMask[i / width] == 0)
                continue;
            var d = Math.Abs((double)ours[i] - theirs[i]);
            worst = double.IsNaN(d) ? double.PositiveInfinity : Math.Max(worst, d);
        }
        return worst;
    }

    /// <summary>
    /// Compares on random ids (fixed seed) of two shapes, all tokens real, segment 0 and, when the model has
    /// segments, 1 in the second half; returns the largest difference.
    /// </summary>
    public static double Check(EncoderLm model, OnnxEncoderSession session, int seed = 1234)
    {
        var c = model.Config;
        var random = new Random(seed);
        double worst = 0;
        foreach (var (batch, wanted) in new[] { (1, 5), (2, 16) })
        {
            var t = Math.Min(wanted, c.MaxSeqLen);
            var ids = Enumerable.Range(0, batch * t).Select(_ => (long)random.Next(c.VocabSize)).ToArray();
            var types = c.TypeVocabSize > 1 ? Enumerable.Range(0, batch * t).Select(i => i % t >= t / 2 ? 1L : 0L).ToArray() : null;
            worst = Math.Max(worst, MaxAbsDiff(model, session, ids, batch, t, null, types));
        }
        return worst;
    }
}
