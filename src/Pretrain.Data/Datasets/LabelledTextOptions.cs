namespace Pretrain.Data.Datasets;

/// <summary>Settings of a <see cref="LabelledTextStream"/> (one recipe <c>data.train</c> or <c>data.eval</c> section, resolved).</summary>
public sealed record LabelledTextOptions
{
    /// <summary>Parquet files, already resolved (see <see cref="Sources.FileResolver"/>); their order is the file order.</summary>
    public required IReadOnlyList<string> Files { get; init; }

    /// <summary>String column holding the text of each row.</summary>
    public string TextColumn { get; init; } = "text";

    /// <summary>
    /// int64 (or int32) class label column; every row needs a label in [0, <see cref="NumClasses"/>). null: plain
    /// text rows (no label read; <see cref="LabelledText.Label"/> is -1), e.g. for contrastive pretraining.
    /// </summary>
    public string? LabelColumn { get; init; } = "label";

    /// <summary>Labels must be below this (null: any label ≥ 0).</summary>
    public int? NumClasses { get; init; }

    /// <summary>Token ids kept per row (the text is truncated to its first <c>MaxTokens</c> ids).</summary>
    public int MaxTokens { get; init; } = 126;

    public int Seed { get; init; }

    public int Rank { get; init; }

    public int WorldSize { get; init; } = 1;

    /// <summary>Bounded background queue length, in rows.</summary>
    public int Prefetch { get; init; } = 64;

    /// <summary>Rows with hash(seed, file name, row group, row) below this are held out for eval.</summary>
    public double HoldoutFraction { get; init; }

    /// <summary>false: train stream (skips held-out rows); true: eval stream (only held-out rows).</summary>
    public bool HoldoutSide { get; init; }

    /// <summary>Share of the (non-held-out) rows read, a fixed subset by seed (<see cref="Sampling.LabelSubset"/>); 1 reads all.</summary>
    public double LabelFraction { get; init; } = 1;

    /// <summary>Shuffle row groups and rows each epoch; eval streams use false (file order).</summary>
    public bool Shuffle { get; init; } = true;

    /// <summary>
    /// Row groups whose rows are shuffled together (see <see cref="Sampling.EpochOrder"/>); 1 = rows shuffled within
    /// their own row group only. The producer holds up to this many row groups in memory. No effect without Shuffle.
    /// </summary>
    public int ShuffleWindow { get; init; } = 1;

    /// <summary>null: endless (train); 1 for eval, after which the stream ends.</summary>
    public int? MaxEpochs { get; init; }

    /// <summary>Bad rows and row groups: fail (null, the default) or skip and count (recipe <c>data.on_bad_data</c>).</summary>
    public BadDataLog? BadData { get; init; }

    /// <summary>Longest wait for the background producer's next item before a DataException (recipe <c>data.timeout_s</c>; null: 300 s).</summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>Recipe section named in error messages.</summary>
    public string ConfigKey { get; init; } = "data.train";
}
