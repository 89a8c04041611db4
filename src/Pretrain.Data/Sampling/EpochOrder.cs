namespace Pretrain.Data.Sampling;

/// <summary>
/// The global sample order of one epoch, recomputed from (seed, epoch) alone: the (file, row group) units are
/// permuted across all files, then rows within each unit. Positions run 0..<see cref="Total"/>-1 over the
/// concatenation; rank r of W takes positions p ≡ r (mod W). No history-dependent shuffle buffer, so any position
/// can be located without reading data.
/// <para>
/// Shuffle window (recipe data.train.shuffle_window, default 1): consecutive ordered units are grouped into windows of
/// that many row groups, and the rows of a whole window are permuted together (from (seed, epoch, window) alone), so
/// a file sorted by class still gives mixed batches. Memory stays bounded by the window: a reader holds at most its
/// row groups at once (see <see cref="Locate"/>, <see cref="WindowOf"/>). Window 1 is the plain order above.
/// </para>
/// </summary>
public sealed class EpochOrder
{
    /// <summary>
    /// Most rows in one unit (row group): its permutation is an int per row (128 MiB at the bound), and readers hold
    /// one row group's values. Sources refuse larger row groups naming the file (see ParquetFooterCheck); real
    /// writers use far fewer (PyArrow: at most 1 Mi rows by default).
    /// </summary>
    public const int MaxUnitRows = 1 << 25;

    /// <summary>Most rows in one shuffle window, whose rows are permuted together (256 MiB at the bound).</summary>
    public const int MaxWindowRows = 1 << 26;


    private readonly IReadOnlyList<RowGroupRef> _units;
    private readonly int[] _order;     // position in the epoch -> index into _units
    private readonly long[] _starts;   // first global position of each ordered unit (length = units + 1)
    private readonly ulong _seed;
    private readonly bool _shuffle;
    private readonly int _window;
    private int _cachedKey = -1;       // ordered unit (window 1) or window (window > 1) whose permutation is cached
    private int[] _cachedPerm = [];

    public EpochOrder(IReadOnlyList<RowGroupRef> units, int seed, int epoch, bool shuffle, int shuffleWindow = 1)
    {
        if (shuffleWindow < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(shuffleWindow), $"shuffle window must be at least 1 (got {shuffleWindow}).");
        }

        foreach (var u in units)
        {
            if (u.Rows is < 0 or > MaxUnitRows)
                throw new ArgumentOutOfRangeException(nameof(units), $"row group {u.RowGroup} of file {u.File} has {u.Rows} rows; 0..{MaxUnitRows} allowed.");
        }

        _units = units;
        _shuffle = shuffle;
        _window = shuffle ? shuffleWindow : 1;
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

        for (int first = 0; _window > 1 && first < units.Count; first += _window)
        {
            long rows = _starts[Math.Min(units.Count, first + _window)] - _starts[first];
            if (rows > MaxWindowRows)
            {
                throw new DataException($"A shuffle window of {_window} row groups holds {rows:N0} rows here (window {first / _window} "
                    + $"of epoch {epoch}); at most {MaxWindowRows:N0} rows are permuted together in memory. Lower "
                    + "data.train.shuffle_window.");
            }
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

    /// <summary>Row groups per shuffle window (1 without shuffling).</summary>
    public int Window => _window;

    /// <summary>Window of ordered unit <paramref name="i"/>; a reader may drop cached row groups when it changes.</summary>
    public int WindowOf(int i) => i / _window;

    /// <summary>
    /// The ordered unit and the row (within its row group) at global <paramref name="position"/>. Caches the last
    /// unit's (or window's) permutation, so walking positions in ascending order costs one permutation per unit or window.
    /// </summary>
    public (int Unit, int Row) Locate(long position)
    {
        if (_window == 1)
        {
            int u = UnitAt(position);
            if (_cachedKey != u)
            {
                _cachedPerm = RowOrder(u);
                _cachedKey = u;
            }

            return (u, _cachedPerm[position - _starts[u]]);
        }

        int k = WindowOf(UnitAt(position));
        int firstUnit = k * _window, endUnit = Math.Min(Count, firstUnit + _window);
        long windowStart = _starts[firstUnit];
        if (_cachedKey != k)
        {
            // Window-local index → window-local index: rows of all the window's units mixed together.
            _cachedPerm = Enumerable.Range(0, checked((int)(_starts[endUnit] - windowStart))).ToArray();
            StableHash.Shuffle(_cachedPerm.AsSpan(), StableHash.Combine(_seed, 3, (ulong)k));
            _cachedKey = k;
        }

        long source = windowStart + _cachedPerm[position - windowStart];
        int unit = UnitAt(source);
        return (unit, checked((int)(source - _starts[unit])));
    }
}
