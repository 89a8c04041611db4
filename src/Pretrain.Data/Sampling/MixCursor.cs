using System.Text.Json.Serialization;

namespace Pretrain.Data.Sampling;

/// <summary>
/// The state of a <see cref="Datasets.MixedStream{T}"/>: how many samples this rank has taken from the mix
/// (<see cref="Position"/>, the same on every rank) and each component's own cursor. Stored under
/// <c>mix</c> in a <see cref="DataCursor"/>.
/// </summary>
public sealed record MixCursor(
    [property: JsonPropertyName("position")] long Position,
    [property: JsonPropertyName("components")] DataCursor[] Components)
{
    public bool Equals(MixCursor? other) =>
        other is not null && Position == other.Position && Components.AsSpan().SequenceEqual(other.Components);

    public override int GetHashCode() => HashCode.Combine(Position, Components.Length);
}
