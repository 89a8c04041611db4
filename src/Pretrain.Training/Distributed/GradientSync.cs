using Pretrain.Distributed;
using Pretrain.Training.Optim;
using static TorchSharp.torch;

namespace Pretrain.Training.Distributed;

/// <summary>What one optimizer step's ranks agree on before backward: the global loss-term and unit counts, and whether any rank wants to stop.</summary>
public readonly record struct StepTotals(long LossTerms, long Units, bool Stop);

/// <summary>
/// The data-parallel parts of one optimizer step (docs/distributed.md "Data-parallel training"), in the order the
/// trainer calls them: <see cref="Totals"/> (one small all-reduce before backward: the loss is normalised by the
/// GLOBAL loss-term count, so N ranks × B equals one process × N·B; the stop flag rides along so every rank finishes
/// the same step), <see cref="AllReduce"/> (the gradient buckets of AdamW's flat buffer summed, one all-reduce per
/// bucket, before unscale, norm and clipping), <see cref="ReduceLoss"/> (the step's loss summed over ranks).
/// With one rank every call is the identity and costs nothing.
/// </summary>
public sealed class GradientSync(ICollectives collectives)
{
    /// <summary>World size 1: every call is the identity.</summary>
    public static readonly GradientSync Single = new(SingleProcess.Instance);

    public ICollectives Collectives => collectives;
    public int Rank => collectives.Rank;
    public int WorldSize => collectives.WorldSize;

    /// <summary>Sums this rank's loss terms and units over the ranks, and ORs the stop wishes (one all-reduce of 3 values).</summary>
    public StepTotals Totals(long lossTerms, long units, bool wantStop)
    {
        if (WorldSize == 1) return new(lossTerms, units, wantStop);
        using var t = tensor(new double[] { lossTerms, units, wantStop ? 1 : 0 }, ScalarType.Float64);   // exact below 2^53
        collectives.AllReduce(t, ReduceOp.Sum);
        var v = t.data<double>().ToArray();
        return new((long)v[0], (long)v[1], v[2] > 0);
    }

    /// <summary>
    /// Whether to stop after this step: with one rank the live token (a signal during the step counts), else the flag
    /// the ranks agreed on in <see cref="Totals"/> (a signal during the step is seen at the next one), so every rank
    /// finishes the same step.
    /// </summary>
    public bool StopAfter(StepTotals totals, CancellationToken cancel) => WorldSize == 1 ? cancel.IsCancellationRequested : totals.Stop;

    /// <summary>Whether any rank wants to stop before the first step (one all-reduce).</summary>
    public bool AgreeStop(bool wantStop) => Totals(0, 0, wantStop).Stop;

    /// <summary>
    /// Sums every gradient bucket of <paramref name="optimizer"/>'s flat buffer over the ranks in place, one all-reduce
    /// per bucket; under ZeRO-1 one reduce-scatter per buffer instead, after which each rank holds the global gradients
    /// of its own shard only (what its update reads).
    /// </summary>
    public void AllReduce(AdamW optimizer)
    {
        if (WorldSize == 1) return;
        if (optimizer.Sharded)
        {
            optimizer.ReduceScatterGradients();
            return;
        }
        optimizer.Collect();   // gradients autograd allocated outside the buffer (the first step's) are bound into it first
        foreach (var bucket in optimizer.FlatGradients) collectives.AllReduce(bucket.Gradients, ReduceOp.Sum);
    }

    /// <summary>The step's loss (already divided by the global term count on each rank) summed over the ranks: the global mean.</summary>
    public Tensor ReduceLoss(Tensor localShare)
    {
        if (WorldSize == 1) return localShare;
        var t = localShare.to(ScalarType.Float64).reshape(1).contiguous();
        collectives.AllReduce(t, ReduceOp.Sum);
        return t;
    }
}
