using Pretrain.Distributed;
using static TorchSharp.torch;

namespace Pretrain.Training.Distributed;

/// <summary>
/// The global batch of a contrastive loss across ranks: every rank's embeddings all-gathered (values only), with this
/// rank's own slice spliced back in as the tensor that carries its gradient. A loss computed over the whole global
/// batch on every rank then back-propagates, on each rank, exactly the gradient of the GLOBAL loss with respect to
/// that rank's embeddings (the other slices are constants here, and live on their own ranks); the trainer's
/// gradient all-reduce sums those, which is the one-process N·B gradient. No autograd function needed.
/// </summary>
public sealed class CrossRankBatch(ICollectives ranks)
{
    public int Rank => ranks.Rank;
    public int WorldSize => ranks.WorldSize;

    /// <summary>(n, …) on this rank → (W·n, …): rank q's rows at [q·n, (q+1)·n); this rank's rows are <paramref name="local"/> itself.</summary>
    public Tensor Gather(Tensor local)
    {
        if (WorldSize == 1) return local;
        using var gathered = ranks.AllGather(local.detach().contiguous());   // (W, n, …), no gradient
        return cat([.. Enumerable.Range(0, WorldSize).Select(q => q == Rank ? local : gathered[q])], 0);
    }
}
