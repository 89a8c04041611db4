namespace Pretrain.Data.Sampling;

/// <summary>
/// The row-level sampling contract of DESIGN.md, independent of what a row holds: each epoch's global order comes
/// from <see cref="EpochOrder"/> (seed, epoch); rank r of W takes positions p ≡ r (mod W); held-out rows keep their
/// position but are skipped by the other side, and so are rows outside a <see cref="LabelSubset"/> when one is given
/// (subsetFraction &lt; 1). An epoch entered at global position s ends at
/// <see cref="Limit"/> = s + ⌊(N − s) / W⌋·W, so every rank gets the same number of positions and the
/// (N − s) mod W leftovers are dropped (counted by the caller). The resume cursor after position p is the end of p's
/// round, s + (⌊(p − s) / W⌋ + 1)·W: the same on every rank that consumes in lockstep, and a position no rank
/// (of any world size) has to repeat.
/// <para>
/// Shuffle window (data.train.shuffle_window): with a window of N the order's positions map to rows through
/// <see cref="EpochOrder.Locate"/>, which mixes the rows of N consecutive row groups; positions, rounds, limits and
/// cursors are unchanged, so sharding and resume hold for any window, and window 1 is the plain order. Holdout and
/// label subset are hashes of a row's address, so they select the same rows whatever the window.
/// </para>
/// </summary>
public sealed class RankWalk
{
    private readonly IReadOnlyList<RowGroupRef> _units;
    private readonly ulong[] _fileKeys;
    private readonly HoldoutSplit _holdout;
    private readonly LabelSubset? _subset;
    private readonly int _seed;
    private readonly bool _shuffle;
    private readonly bool _holdoutSide;
    private readonly int _window;

    public RankWalk(IReadOnlyList<RowGroupRef> units, IReadOnlyList<string> files, int seed, int rank, int worldSize, bool shuffle,
        double holdoutFraction, bool holdoutSide, double subsetFraction = 1, int shuffleWindow = 1)
    {
        if (worldSize < 1 || rank < 0 || rank >= worldSize)
        {
            throw new ArgumentOutOfRangeException(nameof(rank), $"rank {rank} is not in 0..{worldSize - 1}.");
        }

        if (shuffleWindow < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(shuffleWindow), $"shuffle window must be at least 1 (got {shuffleWindow}).");
        }

        _units = units;
        _fileKeys = files.Select(HoldoutSplit.FileKey).ToArray();
        _holdout = new HoldoutSplit(seed, holdoutFraction);
        _subset = subsetFraction < 1 ? new LabelSubset(seed, subsetFraction) : null;
        _seed = seed;
        Rank = rank;
        WorldSize = worldSize;
        _shuffle = shuffle;
        _holdoutSide = holdoutSide;
        _window = shuffleWindow;
    }

    public int Rank { get; }

    public int WorldSize { get; }

    /// <summary>The global order of <paramref name="epoch"/>.</summary>
    public EpochOrder Order(int epoch) => new(_units, _seed, epoch, _shuffle, _window);

    /// <summary>End (exclusive) of the positions used in an epoch of <paramref name="total"/> rows entered at <paramref name="start"/>.</summary>
    public static long Limit(long start, long total, int worldSize) =>
        start >= total ? start : start + ((total - start) / worldSize * worldSize);

    /// <summary>
    /// The cursor right after this rank consumed position <paramref name="position"/> of an epoch entered at
    /// <paramref name="start"/>: the end of its round, or the next epoch's start once the round reaches the limit.
    /// </summary>
    public DataCursor CursorAfter(int epoch, long start, long limit, long position)
    {
        long end = start + ((((position - start) / WorldSize) + 1) * WorldSize);
        return end >= limit ? new DataCursor(epoch + 1, 0, _seed, WorldSize, []) : new DataCursor(epoch, end, _seed, WorldSize, []);
    }

    /// <summary>
    /// This rank's wanted rows of an epoch entered at <paramref name="start"/>, window by window in epoch order (one
    /// row group per window when the window is 1); windows with none are not returned (so they need not be read).
    /// </summary>
    public IEnumerable<RankWindow> Rows(EpochOrder order, long start)
    {
        long limit = Limit(start, order.Total, WorldSize);
        int w = order.Window;
        for (int u0 = order.UnitAt(start) / w * w; u0 < order.Count && order.Start(u0) < limit; u0 += w)
        {
            long first = order.Start(u0), end = Math.Min(order.Start(Math.Min(order.Count, u0 + w)), limit);
            long from = Math.Max(start, first);
            long p0 = from + ((((Rank - (from % WorldSize)) % WorldSize) + WorldSize) % WorldSize);
            var units = new List<RowGroupRef>();
            var slotOf = new Dictionary<int, int>();   // ordered unit → index into units
            var positions = new List<long>();
            var slots = new List<int>();
            var rows = new List<int>();
            for (long p = p0; p < end; p += WorldSize)
            {
                var (u, row) = order.Locate(p);
                var unit = order.Unit(u);
                if (_holdout.IsHeldOut(_fileKeys[unit.File], unit.RowGroup, row) != _holdoutSide
                    || (_subset is not null && !_subset.Keeps(_fileKeys[unit.File], unit.RowGroup, row)))
                {
                    continue;
                }

                if (!slotOf.TryGetValue(u, out int slot))
                {
                    slot = units.Count;
                    slotOf[u] = slot;
                    units.Add(unit);
                }

                positions.Add(p);
                slots.Add(slot);
                rows.Add(row);
            }

            if (positions.Count > 0)
            {
                yield return new RankWindow(units.ToArray(), positions.ToArray(), slots.ToArray(), rows.ToArray());
            }
        }
    }
}
