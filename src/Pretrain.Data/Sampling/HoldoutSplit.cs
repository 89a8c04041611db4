namespace Pretrain.Data.Sampling;

/// <summary>
/// Deterministic held-out split: a row is "eval" when hash(seed, file name, row group, row) &lt; fraction.
/// The file's name (not its folder) enters the hash, so moving a dataset keeps the split. Train and eval streams
/// must use the same seed and fraction to be disjoint.
/// </summary>
public sealed class HoldoutSplit(int seed, double fraction)
{
    public double Fraction { get; } = fraction;

    /// <summary>Key of a file for <see cref="IsHeldOut"/>; compute once per file.</summary>
    public static ulong FileKey(string path) => StableHash.OfString(Path.GetFileName(path));

    public bool IsHeldOut(ulong fileKey, int rowGroup, long row) =>
        Fraction > 0 && StableHash.ToUnit(StableHash.Combine((ulong)(uint)seed, fileKey, (ulong)rowGroup, (ulong)row)) < Fraction;
}
