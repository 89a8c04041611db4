namespace Pretrain.Data.Datasets;

/// <summary>
/// Which component draw n of a weighted mix comes from: the component whose share of [0, 1) holds
/// u_n = frac(offset(seed) + n·(φ − 1)), the golden-ratio Weyl sequence, in exact 64-bit fixed point. A pure function
/// of (weights, seed, n); low-discrepancy, so after N draws each count is within a few of N·weight.
/// </summary>
public sealed class MixSchedule
{
    private const ulong Golden = 0x9E3779B97F4A7C15; // 2^64 · (φ − 1)

    private readonly ulong[] _upper;   // component i takes u in [_upper[i-1], _upper[i]); the last takes the rest
    private readonly ulong _offset;

    /// <param name="weights">Positive relative weights (normalised here).</param>
    /// <param name="seed">Data seed: fixes where the sequence starts.</param>
    public MixSchedule(IReadOnlyList<double> weights, int seed)
    {
        _upper = Thresholds(weights);
        _offset = SplitMix(unchecked((ulong)seed));
    }

    /// <summary>Number of components.</summary>
    public int Count => _upper.Length;

    /// <summary>The component of draw <paramref name="n"/> (0-based).</summary>
    public int ComponentAt(long n)
    {
        ulong u = unchecked(_offset + (ulong)n * Golden);
        for (int i = 0; i < _upper.Length - 1; i++)
        {
            if (u < _upper[i])
            {
                return i;
            }
        }

        return _upper.Length - 1;
    }

    /// <summary>Cumulative shares as 64-bit fixed point: upper[i] = 2^64 · (w_0 + … + w_i) / Σw (the last is never compared).</summary>
    private static ulong[] Thresholds(IReadOnlyList<double> weights)
    {
        double total = weights.Sum();
        var upper = new ulong[weights.Count];
        double cumulative = 0;
        for (int i = 0; i < weights.Count; i++)
        {
            cumulative += weights[i];
            double share = cumulative / total;
            upper[i] = share >= 1 ? ulong.MaxValue : (ulong)(share * 18446744073709551616.0);
        }

        return upper;
    }

    /// <summary>SplitMix64 finaliser: spreads a small seed over 64 bits (the Weyl sequence's starting point).</summary>
    private static ulong SplitMix(ulong x)
    {
        x = unchecked(x + Golden);
        x = unchecked((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9);
        x = unchecked((x ^ (x >> 27)) * 0x94D049BB133111EB);
        return x ^ (x >> 31);
    }
}
