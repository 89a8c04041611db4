using System.Text.Json.Serialization;

namespace Pretrain.Data.Sampling;

/// <summary>
/// The positions of one epoch's order not yet consumed by any rank: <see cref="Holes"/> (ascending, all below
/// <see cref="Frontier"/>) followed by every position in [Frontier, Total). Item i of the remainder is
/// <see cref="At"/>(i); a packed-text rank r of W takes items i ≡ r (mod W) (see <see cref="ElasticCursor"/>).
/// A whole epoch is Frontier 0 with no holes, so its item i is position i: the plain p ≡ r (mod W) rule.
/// JSON names: epoch, frontier, holes.
/// </summary>
public sealed record EpochRemainder(
    [property: JsonPropertyName("epoch")] int Epoch,
    [property: JsonPropertyName("frontier")] long Frontier,
    [property: JsonPropertyName("holes")] long[] Holes)
{
    /// <summary>A whole, untouched epoch.</summary>
    public static EpochRemainder Full(int epoch) => new(epoch, 0, []);

    /// <summary>Number of items in an epoch of <paramref name="total"/> positions.</summary>
    public long Count(long total) => (Holes?.Length ?? 0) + Math.Max(0, total - Frontier);

    /// <summary>Global position of item <paramref name="i"/> (0 ≤ i &lt; Count).</summary>
    public long At(long i) => i < Holes.Length ? Holes[i] : Frontier + (i - Holes.Length);

    public bool Equals(EpochRemainder? other) =>
        other is not null && Epoch == other.Epoch && Frontier == other.Frontier && Holes.AsSpan().SequenceEqual(other.Holes);

    public override int GetHashCode() => HashCode.Combine(Epoch, Frontier, Holes.Length);
}
