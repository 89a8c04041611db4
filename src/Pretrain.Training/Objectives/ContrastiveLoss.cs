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
    /// Hook for data-parallel training: all-gather the local candidates (K, D) from every rank and return them with
    /// the row offset of this rank's block, so negatives come from all ranks. The default keeps them local.
    /// </summary>
    public static Func<Tensor, (Tensor All, long Offset)> Gather { get; set; } = t => (t, 0);

    /// <summary>
    /// Core: anchors (M, D) against candidates (K, D); anchor i's positive is local candidate
    /// <paramref name="positive"/>[i]; <paramref name="excludeSelf"/> masks anchor i's own row (when anchors are
    /// themselves candidates).
    /// </summary>
    public static Tensor InfoNceCore(Tensor anchors, Tensor candidates, Tensor positive, bool excludeSelf, double temperature)
    {
        var a = nn.functional.normalize(anchors, dim: 1);
        var (all, offset) = Gather(nn.functional.normalize(candidates, dim: 1));
        var logits = a.matmul(all.t()) / temperature;                             // (M, K·ranks)
        if (excludeSelf)
        {
            var rows = arange(anchors.shape[0], dtype: ScalarType.Int64, device: a.device);
            var self = zeros_like(logits, dtype: ScalarType.Bool).index_put_(tensor(true), rows, rows + offset);
            logits = logits.masked_fill(self, double.NegativeInfinity);
        }
        return nn.functional.cross_entropy(logits, positive + offset, reduction: nn.Reduction.Sum);
    }

    /// <summary>SimCSE (Gao et al. 2021): anchor i's positive is positives[i]; (N, D), (N, D) → sum over N anchors.</summary>
    public static Tensor InfoNce(Tensor anchors, Tensor positives, double temperature) =>
        InfoNceCore(anchors, positives, arange(anchors.shape[0], dtype: ScalarType.Int64, device: anchors.device), false, temperature);

    /// <summary>
    /// SimCLR's NT-Xent (Chen et al. 2020): the 2N views are both anchors and candidates; view i's positive is its
    /// other view, the other 2N−2 views are negatives. (N, D), (N, D) → sum over 2N anchors.
    /// </summary>
    public static Tensor NtXent(Tensor view1, Tensor view2, double temperature)
    {
        long n = view1.shape[0];
        var z = cat([view1, view2], 0);                                          // (2N, D)
        var positive = (arange(2 * n, dtype: ScalarType.Int64, device: z.device) + n).remainder(2 * n);
        return InfoNceCore(z, z, positive, true, temperature);
    }
}
