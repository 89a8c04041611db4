using Pretrain.Data.Sampling;

namespace Pretrain.Data.Vision;

/// <summary>
/// A small deterministic random stream (SplitMix64) for one sample's augmentation. Its seed is derived from
/// (data seed, epoch, global position, view), so augmentation is the same on every machine, world size and resume.
/// </summary>
public struct SampleRng
{
    private ulong _state;

    public SampleRng(ulong seed) => _state = seed;

    /// <summary>The stream for view <paramref name="view"/> of the sample at global <paramref name="position"/> of <paramref name="epoch"/>.</summary>
    public static SampleRng For(int seed, int epoch, long position, int view) =>
        new(StableHash.Combine((ulong)(uint)seed, (ulong)(uint)epoch, (ulong)position, (ulong)(uint)view, 0x1A6EUL));

    /// <summary>Next 64 random bits.</summary>
    public ulong NextUInt64()
    {
        _state += 0x9E3779B97F4A7C15UL;
        return StableHash.Mix(_state);
    }

    /// <summary>Uniform in [0, 1).</summary>
    public double NextDouble() => StableHash.ToUnit(NextUInt64());

    /// <summary>Uniform in [<paramref name="min"/>, <paramref name="max"/>).</summary>
    public double Uniform(double min, double max) => min + ((max - min) * NextDouble());

    /// <summary>Uniform integer in [0, <paramref name="count"/>); 0 when count &lt;= 1.</summary>
    public int NextInt(int count) => count <= 1 ? 0 : (int)(NextUInt64() % (ulong)count);
}
