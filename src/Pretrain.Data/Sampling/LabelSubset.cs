namespace Pretrain.Data.Sampling;

/// <summary>
/// The labelled subset of a train split (semi-supervised fine-tuning, e.g. "10% of the labels"): a row is kept when
/// hash(seed, salt, file name, row group, row) &lt; fraction. The hash is salted apart from <see cref="HoldoutSplit"/>'s,
/// so the subset is an independent draw among the rows not held out, and it depends on nothing but the seed and the
/// row's address: every run with the same seed and files trains on the same rows, whatever else it changes.
/// </summary>
public sealed class LabelSubset(int seed, double fraction)
{
    private const ulong Salt = 0x1ABE15;

    /// <summary>Share of rows kept, in (0, 1]; 1 keeps every row.</summary>
    public double Fraction { get; } = fraction;

    /// <summary>Whether the row at (file, row group, row) is in the subset; <paramref name="fileKey"/> from <see cref="HoldoutSplit.FileKey"/>.</summary>
    public bool Keeps(ulong fileKey, int rowGroup, long row) =>
        Fraction >= 1 || StableHash.ToUnit(StableHash.Combine((ulong)(uint)seed, Salt, fileKey, (ulong)rowGroup, (ulong)row)) < Fraction;
}
