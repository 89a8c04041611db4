using Pretrain.Data.Datasets;
using Pretrain.Data.Text;
using Pretrain.Training.Tasks;
using static TorchSharp.torch;

namespace Pretrain.Cli.Commands;

/// <summary>Batched class probabilities of a <see cref="SequenceClassifier"/> for labelled-text rows (eval and predict).</summary>
internal static class ClassifierInference
{
    /// <summary>Softmax probabilities (B, classes) of each row of <paramref name="rows"/>, in order.</summary>
    public static float[][] Probabilities(SequenceClassifier model, ITextTokenizer tokenizer, IReadOnlyList<LabelledText> rows, Device device)
    {
        var specials = tokenizer as ISpecialTokens;
        if (specials is not { ClsId: { } cls, SepId: { } sep, PadId: { } pad })
            throw new InvalidOperationException("The checkpoint's tokenizer has no [CLS], [SEP] or [PAD] token; it was not written by a classify run.");
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var (ids, mask, _) = ClassifyBatch.Collate(rows, cls, sep, pad, device);
        var probs = nn.functional.softmax(model.call(ids, mask), -1).cpu();
        int k = (int)probs.shape[1];
        var flat = probs.data<float>().ToArray();
        return [.. Enumerable.Range(0, rows.Count).Select(i => flat.AsSpan(i * k, k).ToArray())];
    }

    /// <summary>Index of the largest probability.</summary>
    public static int ArgMax(float[] p)
    {
        int best = 0;
        for (int i = 1; i < p.Length; i++) if (p[i] > p[best]) best = i;
        return best;
    }
}
