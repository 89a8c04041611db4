using System.Text.Json;
using System.Text.Json.Serialization;

namespace Pretrain.Data.Sampling;

/// <summary>
/// Resume cursor (DESIGN.md "Sample order and cursor"). <see cref="SampleInEpoch"/> counts global positions of the
/// epoch's order consumed (all ranks together); <see cref="PendingTokens"/> are this rank's packer leftovers, so a
/// resumed stream continues mid-block. JSON names are snake_case: epoch, sample_in_epoch, seed, world_size, pending_tokens.
/// <para>
/// Packed-text cursors (see <see cref="ElasticCursor"/>) are per rank: <see cref="SampleInEpoch"/> is then the rank's next
/// item index in the epoch's <see cref="EpochRemainder"/> (its global position when nothing was left over by a
/// world-size change), <see cref="Remaining"/> lists the epochs' remainders left by such a change (remaining; omitted
/// when none), and a checkpoint of a multi-rank run holds all ranks gathered by <see cref="ElasticCursor.Combine"/>
/// into <see cref="Ranks"/> (ranks; omitted in a single rank's cursor).
/// </para>
/// A mixed stream's cursor also carries <see cref="Mix"/> (mix position and each component's cursor); its own fields
/// then repeat the first component's epoch and position, so the run's epoch follows the first component.
/// </summary>
public sealed record DataCursor(
    [property: JsonPropertyName("epoch")] int Epoch,
    [property: JsonPropertyName("sample_in_epoch")] long SampleInEpoch,
    [property: JsonPropertyName("seed")] int Seed,
    [property: JsonPropertyName("world_size")] int WorldSize,
    [property: JsonPropertyName("pending_tokens")] int[] PendingTokens)
{
    private static readonly JsonSerializerOptions Compact = new();

    /// <summary>Remainders of partly consumed epochs (packed text after a world-size change); null or empty: none.</summary>
    [JsonPropertyName("remaining")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public EpochRemainder[]? Remaining { get; init; }

    /// <summary>Combined cursor of a packed-text run: every rank's progress, indexed by rank; null in one rank's cursor.</summary>
    [JsonPropertyName("ranks")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public RankProgress[]? Ranks { get; init; }
    /// <summary>Set by <see cref="Datasets.MixedStream{T}"/> only (absent from JSON otherwise).</summary>
    [JsonPropertyName("mix")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public MixCursor? Mix { get; init; }

    /// <summary>Serializer options for embedding a cursor in other JSON (the names are fixed by attributes either way).</summary>
    public static JsonSerializerOptions JsonOptions => Compact;

    /// <summary>The cursor of a stream that has produced nothing yet.</summary>
    public static DataCursor Start(int seed, int worldSize) => new(0, 0, seed, worldSize, []);

    public string ToJson() => JsonSerializer.Serialize(this, Compact);

    public static DataCursor FromJson(string json)
    {
        try
        {
            var cursor = JsonSerializer.Deserialize<DataCursor>(json, Compact)
                ?? throw new DataException("Data cursor JSON is null.");
            return cursor with { PendingTokens = cursor.PendingTokens ?? [], Remaining = cursor.Remaining is { Length: > 0 } r ? r : null };
        }
        catch (JsonException e)
        {
            throw new DataException($"Data cursor is not valid JSON ({e.Message}); the checkpoint's trainer_state.json may be damaged.", e);
        }
    }

    /// <summary>Value equality, pending tokens compared element by element.</summary>
    public bool Equals(DataCursor? other) =>
        other is not null && Epoch == other.Epoch && SampleInEpoch == other.SampleInEpoch && Seed == other.Seed
        && WorldSize == other.WorldSize && PendingTokens.AsSpan().SequenceEqual(other.PendingTokens)
        && (Remaining ?? []).AsSpan().SequenceEqual(other.Remaining ?? [])
        && (Ranks is null ? other.Ranks is null : other.Ranks is not null && Ranks.AsSpan().SequenceEqual(other.Ranks))
        && Equals(Mix, other.Mix);

    public override int GetHashCode() => HashCode.Combine(Epoch, SampleInEpoch, Seed, WorldSize, PendingTokens.Length);

    public override string ToString() =>
        $"DataCursor {{ epoch = {Epoch}, sample_in_epoch = {SampleInEpoch}, seed = {Seed}, world_size = {WorldSize}, pending_tokens = {PendingTokens.Length}" +
        (Remaining is { Length: > 0 } r ? $", remaining = {r.Length} epochs" : "") + (Ranks is { } k ? $", ranks = {k.Length}" : "") +
        (Mix is null ? "" : $", mix position = {Mix.Position}") + " }";
}
