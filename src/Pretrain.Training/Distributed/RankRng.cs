using Pretrain.Data.Sampling;
using Pretrain.Distributed;

namespace Pretrain.Training.Distributed;

/// <summary>
/// Per-rank CPU generator streams (dropout). Rank 0 keeps train.seed's stream, so one rank is exactly the
/// single-process run; rank r &gt; 0 starts from a seed derived from (train.seed, r), so ranks draw different dropout
/// masks. Every rank's state is gathered into the checkpoint (rank_rng_states); a resume on the same world size
/// restores each rank's own; on another world size ranks that existed before restore theirs and new ranks start from
/// (train.seed, rank, step) — dropout then differs from an uninterrupted run, the data order does not.
/// </summary>
public static class RankRng
{
    /// <summary>At a fresh start: reseeds ranks &gt; 0 (rank 0 is left as the single-process run has it).</summary>
    public static void SeedFresh(ICollectives ranks, int seed)
    {
        if (ranks.Rank > 0) TorchSharp.torch.random.manual_seed((long)(StableHash.Combine((ulong)seed, 0xD0_0D, (ulong)ranks.Rank) & long.MaxValue));
    }

    /// <summary>On resume (after the checkpoint restored rank 0's state): this rank's own saved state, or a derived seed.</summary>
    public static void Restore(ICollectives ranks, TrainerState state, int seed)
    {
        if (ranks.Rank == 0) return;
        if (state.RankRngStates is { } saved && ranks.Rank < saved.Count)
            RngState.Restore(Convert.FromBase64String(saved[ranks.Rank]));
        else
            TorchSharp.torch.random.manual_seed((long)(StableHash.Combine((ulong)seed, 0xD0_0D, (ulong)ranks.Rank, (ulong)state.Step) & long.MaxValue));
    }

    /// <summary>Every rank's generator state (base64, rank order); null with one rank.</summary>
    public static IReadOnlyList<string>? Gather(ICollectives ranks)
    {
        if (ranks.WorldSize == 1) return null;
        return [.. ranks.AllGatherBytes(RngState.Save()).Select(Convert.ToBase64String)];
    }
}
