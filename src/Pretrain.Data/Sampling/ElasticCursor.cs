namespace Pretrain.Data.Sampling;

/// <summary>
/// Exactly-once resume of packed-text streams on any world size (DESIGN.md "Resume on another world size continues
/// from the same global position").
/// <para>
/// Packed ranks do not consume documents in lockstep (a block holds however many documents fit), so no single
/// global position describes a W-rank run. Instead each epoch's unconsumed positions form an
/// <see cref="EpochRemainder"/> (a whole epoch at first), and rank r of W takes the remainder's items i ≡ r (mod W);
/// a rank's cursor is (epoch, next item index, pending tokens). A checkpoint of a multi-rank run holds every rank's
/// cursor gathered by <see cref="Combine"/>.
/// </para>
/// <para>
/// On the same world size each rank continues its own walk bitwise. On another world size <see cref="ForRank"/>
/// recomputes, for every epoch some rank has not finished, the exact set of positions no rank consumed
/// (a document is consumed once its tokens entered a rank's packer: it is in emitted blocks or in that rank's
/// pending tokens) and deals it afresh over the new ranks. Pending tokens are never dropped: old rank o's pending
/// tokens go to new rank o mod W', concatenated in old-rank order. A pending buffer's first token is the last
/// token of that rank's last block (already a target, kept as the next block's first input); the first buffer a
/// new rank receives keeps it in that role, every further buffer drops it, so each token is a target exactly once
/// and each document enters exactly one packer. A new rank that receives no pending tokens starts like a fresh
/// stream (its first token is an input only).
/// </para>
/// </summary>
public static class ElasticCursor
{
    /// <summary>Gathers the cursors of all W ranks of one packed-text run (index = rank) into one combined cursor.</summary>
    public static DataCursor Combine(IReadOnlyList<DataCursor> perRank)
    {
        if (perRank.Count == 0)
        {
            throw new ArgumentException("No cursors to combine.", nameof(perRank));
        }

        int w = perRank.Count, seed = perRank[0].Seed;
        var remaining = new SortedDictionary<int, EpochRemainder>();
        var ranks = new RankProgress[w];
        for (int r = 0; r < w; r++)
        {
            var c = perRank[r];
            if (c.Seed != seed || c.WorldSize != w || c.Ranks is not null)
            {
                throw new DataException($"Cannot combine data cursors: rank {r}'s cursor ({c}) is not a single-rank cursor of the same {w}-rank run with seed {seed}.");
            }

            foreach (var rem in c.Remaining ?? [])
            {
                remaining.TryAdd(rem.Epoch, rem); // ranks agree on the remainders they share
            }

            ranks[r] = new RankProgress(c.Epoch, c.SampleInEpoch, c.PendingTokens);
        }

        int epoch = ranks.Min(p => p.Epoch);
        var kept = remaining.Values.Where(x => x.Epoch >= epoch).ToArray();
        return new DataCursor(epoch, 0, seed, w, []) { Remaining = kept.Length > 0 ? kept : null, Ranks = ranks };
    }

    /// <summary>
    /// The cursor rank <paramref name="rank"/> of <paramref name="worldSize"/> resumes from: its own progress on the
    /// same world size, else a fresh deal of the unconsumed positions (see the class summary).
    /// <paramref name="total"/> is the number of positions per epoch (all rows of all files).
    /// </summary>
    /// <exception cref="DataException">The cursor holds one rank of a multi-rank run and the world size changed.</exception>
    public static DataCursor ForRank(DataCursor resume, int rank, int worldSize, long total, string configKey)
    {
        if (resume.Ranks is { } ranks)
        {
            if (ranks.Length != resume.WorldSize)
            {
                throw new DataException($"{configKey}: invalid combined resume cursor: {ranks.Length} rank entries for world size {resume.WorldSize}.");
            }

            if (resume.WorldSize == worldSize)
            {
                var own = ranks[rank];
                return new DataCursor(own.Epoch, own.NextIndex, resume.Seed, worldSize, own.PendingTokens) { Remaining = From(resume.Remaining, own.Epoch) };
            }

            return Reshard(resume.Remaining ?? [], ranks, resume.Seed, rank, worldSize, total);
        }

        if (resume.WorldSize == worldSize)
        {
            return resume with { Remaining = From(resume.Remaining, resume.Epoch) };
        }

        if (resume.WorldSize == 1)
        {
            // A single-rank run's cursor is its whole state.
            return Reshard(resume.Remaining ?? [], [new RankProgress(resume.Epoch, resume.SampleInEpoch, resume.PendingTokens)], resume.Seed, rank, worldSize, total);
        }

        throw new DataException(
            $"{configKey}: the resume cursor holds one rank's progress of a {resume.WorldSize}-rank run, so it cannot be resumed on " +
            $"{worldSize} ranks without losing or repeating documents. Resume on {resume.WorldSize} ranks, or from a checkpoint " +
            "whose cursor combines all ranks (ElasticCursor.Combine).");
    }

    /// <summary>First item index ≥ <paramref name="index"/> that rank <paramref name="rank"/> of <paramref name="worldSize"/> owns.</summary>
    public static long FirstOwned(long index, int rank, int worldSize) =>
        index + ((((rank - (index % worldSize)) % worldSize) + worldSize) % worldSize);

    /// <summary>The remainders of epochs at or after <paramref name="epoch"/>; null when none.</summary>
    public static EpochRemainder[]? From(EpochRemainder[]? remaining, int epoch)
    {
        var kept = (remaining ?? []).Where(r => r.Epoch >= epoch).ToArray();
        return kept.Length > 0 ? kept : null;
    }

    private static DataCursor Reshard(EpochRemainder[] remaining, RankProgress[] ranks, int seed, int rank, int worldSize, long total)
    {
        int w = ranks.Length;
        int first = ranks.Min(p => p.Epoch), last = ranks.Max(p => p.Epoch);
        var canonical = new List<EpochRemainder>();
        for (int e = first; e <= last; e++)
        {
            var rem = remaining.FirstOrDefault(x => x.Epoch == e) ?? EpochRemainder.Full(e);
            long count = rem.Count(total);
            // Old rank o consumed its items i ≡ o (mod w) with i < bound[o].
            long[] bound = ranks.Select((p, o) => p.Epoch > e ? long.MaxValue : p.Epoch == e ? p.NextIndex : o).ToArray();
            long cut = Math.Min(count, Math.Max(rem.Holes.Length, bound.Max()));
            var holes = new List<long>();
            for (long i = 0; i < cut; i++)
            {
                if (i >= bound[i % w])
                {
                    holes.Add(rem.At(i));
                }
            }

            // Items from cut on are all unconsumed and, past the old holes, contiguous from At(cut).
            canonical.Add(new EpochRemainder(e, cut < count ? rem.At(cut) : total, [.. holes]));
        }

        canonical.AddRange(remaining.Where(x => x.Epoch > last)); // none in practice: remainders never lie ahead of every rank

        var pending = new List<int>();
        for (int o = rank; o < w; o += worldSize)
        {
            int[] p = ranks[o].PendingTokens ?? [];
            pending.AddRange(pending.Count == 0 ? p : p.AsSpan(Math.Min(1, p.Length)).ToArray());
        }

        return new DataCursor(first, rank, seed, worldSize, [.. pending]) { Remaining = [.. canonical] };
    }
}
