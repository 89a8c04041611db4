using System.Text;
using Pretrain.Data.Sampling;
using Pretrain.Distributed;

namespace Pretrain.Training.Distributed;

/// <summary>
/// Every rank's data cursor in one checkpoint (docs/cursor-and-resume.md). Row streams (RankWalk) consume in
/// lockstep, so every rank's cursor is the same global position: it is checked to be, and kept once. Packed text
/// is not in lockstep: the ranks' cursors are combined by <see cref="ElasticCursor.Combine"/> (per component for a
/// mix), which any world size can resume exactly.
/// </summary>
public static class CursorGather
{
    /// <summary>The run's cursor JSON from every rank's own (all ranks call it; all get the result).</summary>
    public static string Gather(ICollectives ranks, string mineJson, bool packedText)
    {
        if (ranks.WorldSize == 1) return mineJson;
        var cursors = ranks.AllGatherBytes(Encoding.UTF8.GetBytes(mineJson))
            .Select(b => DataCursor.FromJson(Encoding.UTF8.GetString(b))).ToList();
        return Combine(cursors, packedText).ToJson();
    }

    /// <summary>Combines the cursors of ranks 0..W−1 (index = rank).</summary>
    public static DataCursor Combine(IReadOnlyList<DataCursor> perRank, bool packedText)
    {
        if (!packedText)
        {
            for (int r = 1; r < perRank.Count; r++)
            {
                if (!perRank[r].Equals(perRank[0]))
                    throw new InvalidOperationException($"Row-stream cursors differ between rank 0 ({perRank[0]}) and rank {r} ({perRank[r]}); " +
                        "row streams consume in lockstep, so this is a bug in the trainer or the stream.");
            }
            return perRank[0];
        }
        if (perRank[0].Mix is { } mix0)
        {
            // A mix of packed-text components: each component combined over the ranks; the position is the same on every rank.
            var components = Enumerable.Range(0, mix0.Components.Length)
                .Select(c => ElasticCursor.Combine([.. perRank.Select(p => p.Mix!.Components[c])])).ToArray();
            return perRank[0] with { PendingTokens = [], Mix = new MixCursor(mix0.Position, components) };
        }
        return ElasticCursor.Combine(perRank);
    }
}
