using Pretrain.Data.Datasets;
using static TorchSharp.torch;

namespace Pretrain.Training.Tasks;

/// <summary>
/// Collates labelled rows into a classification batch: [CLS] ids [SEP], right-padded with [PAD] to the longest row
/// of the batch, with attention_mask 1 on real tokens and 0 on padding.
/// </summary>
public static class ClassifyBatch
{
    /// <summary>Host arrays (B·T ids, B·T mask, B labels) and the padded length T.</summary>
    public static (long[] Ids, long[] Mask, long[] Labels, int Length) Arrays(IReadOnlyList<LabelledText> rows, int cls, int sep, int pad)
    {
        int b = rows.Count, t = rows.Max(r => r.Ids.Length) + 2;
        var ids = new long[b * t];
        var mask = new long[b * t];
        var labels = new long[b];
        for (int i = 0; i < b; i++)
        {
            var row = rows[i].Ids;
            int o = i * t;
            ids[o] = cls;
            for (int j = 0; j < row.Length; j++) ids[o + 1 + j] = row[j];
            ids[o + 1 + row.Length] = sep;
            for (int j = row.Length + 2; j < t; j++) ids[o + j] = pad;
            for (int j = 0; j < row.Length + 2; j++) mask[o + j] = 1;
            labels[i] = rows[i].Label;
        }
        return (ids, mask, labels, t);
    }

    /// <summary>The batch as tensors on <paramref name="device"/>: ids (B, T), mask (B, T), labels (B,).</summary>
    public static (Tensor Ids, Tensor Mask, Tensor Labels) Collate(IReadOnlyList<LabelledText> rows, int cls, int sep, int pad, Device device)
    {
        var (ids, mask, labels, t) = Arrays(rows, cls, sep, pad);
        long b = rows.Count;
        return (tensor(ids, [b, t]).to(device), tensor(mask, [b, t]).to(device), tensor(labels, [b]).to(device));
    }
}
