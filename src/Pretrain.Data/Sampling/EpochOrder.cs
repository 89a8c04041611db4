namespace Pretrain.Data.Sampling;

/// <summary>
/// The global sample order of one epoch, recomputed from (seed, epoch) alone: the (file, row group) units are
/// permuted across all files, then rows within each unit. Positions run 0..<see cref="Total"/>-1 over the
/// concatenation; rank r of W takes positions p ≡ r (mod W). No history-dependent shuffle buffer, so any position
/// can be located without reading data.
/// </summary>
public sealed class EpochOrder
{
    private readonly IReadOnlyList<RowGroupRef> _units;
    private readonly int[] _order;     // position in the epoch -> index into _units
    private readonly long[] _starts;   // first global position of each ordered unit (length = units + 1)
    private readonly ulong _seed;
    private readonly bool _shuffle;

    public EpochOrder(IReadOnlyList<RowGroupRef> units, int seed, int epoch, bool shuffle)
    {
        _units = units;
        _shuffle = shuffle;
        _seed = StableHash.Combine((ulong)(uint)seed, (ulong)(uint)epoch);
        _order = Enumerable.Range(0, units.Count).ToArray();
        if (shuffle)
        {
            StableHash.Shuffle(_order.AsSpan(), StableHash.Combine(_seed, 1));
        }

        _starts = new long[units.Count + 1];
        for (int i = 0; i < units.Count; i++)
        {
            _starts[i + 1] = _starts[i] + units[_order[i]].Rows;
        }
    }

    /// <summary>Number of rows (positions) in the epoch.</summary>
    public long Total => _starts[^1];

    /// <summary>Number of units (row groups).</summary>
    public int Count => _order.Length;

    /// <summary>The unit at ordered index <paramref name="i"/>.</summary>
    public RowGroupRef Unit(int i) => _units[_order[i]];

    /// <summary>First global position of ordered unit <paramref name="i"/>.</summary>
    public long Start(int i) => _starts[i];

    /// <summary>Ordered index of the unit that holds <paramref name="position"/> (Count when past the end).</summary>
    public int UnitAt(long position)
    {
        if (position >= Total)
        {
            return Count;
        }

        // Last i with _starts[i] <= position, skipping empty units.
        int lo = 0, hi = Count - 1;
        while (lo < hi)
        {
            int mid = (lo + hi + 1) / 2;
            if (_starts[mid] <= position)
            {
                lo = mid;
            }
            else
            {
                hi = mid - 1;
            }
        }

        return lo;
    }

    /// <summary>Row indices (within the row group) of ordered unit <paramref name="i"/>, in epoch order.</summary>
    public int[] RowOrder(int i)
    {
        int unit = _order[i];
        int[] rows = Enumerable.Range(0, checked((int)_units[unit].Rows)).ToArray();
        if (_shuffle)
        {
            StableHash.Shuffle(rows.AsSpan(), StableHash.Combine(_seed, 2, (ulong)unit));
        }

        return rows;
    }
}
