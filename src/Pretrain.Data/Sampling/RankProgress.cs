using System.Text.Json.Serialization;

namespace Pretrain.Data.Sampling;

/// <summary>
/// One rank's place in a packed-text walk, as gathered into a combined cursor (<see cref="DataCursor.Ranks"/>):
/// the epoch it is in, <see cref="NextIndex"/> (items i ≡ rank (mod W) below it are consumed, see
/// <see cref="EpochRemainder"/>) and its packer's pending tokens. JSON names: epoch, next_index, pending_tokens.
/// </summary>
public sealed record RankProgress(
    [property: JsonPropertyName("epoch")] int Epoch,
    [property: JsonPropertyName("next_index")] long NextIndex,
    [property: JsonPropertyName("pending_tokens")] int[] PendingTokens)
{
    public bool Equals(RankProgress? other) =>
        other is not null && Epoch == other.Epoch && NextIndex == other.NextIndex && PendingTokens.AsSpan().SequenceEqual(other.PendingTokens);

    public override int GetHashCode() => HashCode.Combine(Epoch, NextIndex, PendingTokens.Length);
}
