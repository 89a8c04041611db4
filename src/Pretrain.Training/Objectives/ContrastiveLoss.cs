using Pretrain.Training.Distributed;
using static TorchSharp.torch;

namespace Pretrain.Training.Objectives;

/// <summary>
/// The InfoNCE core shared by SimCLR (NT-Xent) and SimCSE. Embeddings are L2-normalised; logits are cosine
/// similarities over a temperature; each anchor has one positive among the candidates and every other candidate is
/// a negative. All functions return the SUMMED loss (the trainer divides by the step's anchor count).
/// </summary>
public static class ContrastiveLoss
{
    /// <summary>
    /// Core: anchors (M, D) against candidates (K, D); anchor i's positive is local candidate
    /// <paramref name="positive"/>[i]; <paramref name="excludeSelf"/> masks anchor i's own row (when anchors are
    /// themselves candidates). With <paramref name="ranks"/> of world size W &gt; 1 (every rank with the same M and K),
    /// anchors and candidates are the global batch of W·M and W·K rows and the loss is computed over all W·M anchors:
    /// its value is this rank's anchors' share (so the ranks' values sum to the global loss) and its gradient is the
    /// global loss's with respect to this rank's rows (<see cref="CrossRankBatch"/>), so N ranks × B equals one process × N·B.
    /// </summary>
    public static Tensor InfoNceCore(Tensor anchors, Tensor candidates, Tensor positive, bool excludeSelf, double temperature, CrossRankBatch? ranks = null)
    {
        if (ranks is not { WorldSize: > 1 })
            return InfoNceLocal(nn.functional.normalize(anchors, dim: 1), nn.functional.normalize(candidates, dim: 1), positive, excludeSelf, temperature, nn.Reduction.Sum);
        long m = anchors.shape[0], k = candidates.shape[0];
        var a = ranks.Gather(nn.functional.normalize(anchors, dim: 1));             // (W·M, D), this rank's slice with gradient
        var c = ranks.Gather(nn.functional.normalize(candidates, dim: 1));          // (W·K, D)
        var positives = cat([.. Enumerable.Range(0, ranks.WorldSize).Select(q => positive + q * k)], 0);   // (W·M,)
        var perAnchor = InfoNceLocal(a, c, positives, excludeSelf, temperature, nn.Reduction.None);   // (W·M,)
        var all = perAnchor.sum();
        var mine = perAnchor.narrow(0, ranks.Rank * m, m).sum();
        return mine.detach() + (all - all.detach());   // value: this rank's share; gradient: the global loss's
    }

    /// <summary>Cross-entropy (summed or per anchor) of normalised anchors (M, D) against normalised candidates (K, D); anchor i's own row is candidate i.</summary>
    private static Tensor InfoNceLocal(Tensor a, Tensor c, Tensor positive, bool excludeSelf, double temperature, nn.Reduction reduction)
    {
        var logits = a.matmul(c.t()) / temperature;                               // (M, K)
        if (excludeSelf)
        {
            var rows = arange(a.shape[0], dtype: ScalarType.Int64, device: a.device);
            var self = zeros_like(logits, dtype: ScalarType.Bool).index_put_(tensor(true), rows, rows);
            logits = logits.masked_fill(self, double.NegativeInfinity);
        }
        return nn.functional.cross_entropy(logits, positive, reduction: reduction);
    }

    /// <summary>SimCSE (Gao et al. 2021): anchor i's positive is positives[i]; (N, D), (N, D) → sum over N anchors.</summary>
    public static Tensor InfoNce(Tensor anchors, Tensor positives, double temperature, CrossRankBatch? ranks = null) =>
        InfoNceCore(anchors, positives, arange(anchors.shape[0], dtype: ScalarType.Int64, device: anchors.device), false, temperature, ranks);

    /// <summary>
    /// SimCLR's NT-Xent (Chen et al. 2020): the 2N views are both anchors and candidates; view i's positive is its
    /// other view, the other 2N−2 views are negatives. (N, D), (N, D) → sum over 2N anchors.
    /// </summary>
    public static Tensor NtXent(Tensor view1, Tensor view2, double temperature, CrossRankBatch? ranks = null)
    {
        long n = view1.shape[0];
        var z = cat([view1, view2], 0);                                          // (2N, D)
        var positive = (arange(2 * n, dtype: ScalarType.Int64, device: z.device) + n).remainder(2 * n);
        return InfoNceCore(z, z, positive, true, temperature, ranks);
    }
}
