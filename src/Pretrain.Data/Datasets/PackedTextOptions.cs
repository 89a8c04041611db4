namespace Pretrain.Data.Datasets;

/// <summary>Settings of a <see cref="PackedTextStream"/> (one recipe <c>data.train</c> or <c>data.eval</c> section, resolved).</summary>
public sealed record PackedTextOptions
{
    /// <summary>Parquet files, already resolved (see <see cref="Sources.FileResolver"/>); their order is the file order.</summary>
    public required IReadOnlyList<string> Files { get; init; }

    /// <summary>String column of documents to tokenize (ignored when <see cref="TokenColumn"/> is set).</summary>
    public string TextColumn { get; init; } = "text";

    /// <summary>
    /// Pre-tokenized datasets: a list&lt;int32&gt; or list&lt;int64&gt; column (e.g. <c>input_ids</c>) read instead of
    /// tokenizing <see cref="TextColumn"/>. Each row is one document, followed by the tokenizer's EOS as text rows are;
    /// null or empty lists are skipped. Ids must lie in [0, tokenizer vocabulary size). Order, sharding, holdout and
    /// cursors are the same as for text.
    /// </summary>
    public string? TokenColumn { get; init; }

    /// <summary>The column actually read: <see cref="TokenColumn"/> when set, else <see cref="TextColumn"/>.</summary>
    public string Column => TokenColumn ?? TextColumn;

    /// <summary>Input tokens per block; each block holds BlockSize + 1 ids.</summary>
    public required int BlockSize { get; init; }

    public int Seed { get; init; }

    public int Rank { get; init; }

    public int WorldSize { get; init; } = 1;

    /// <summary>Bounded background queue length, in blocks.</summary>
    public int Prefetch { get; init; } = 16;

    /// <summary>Rows with hash(seed, file name, row group, row) below this are held out for eval.</summary>
    public double HoldoutFraction { get; init; }

    /// <summary>false: train stream (skips held-out rows); true: eval stream (only held-out rows).</summary>
    public bool HoldoutSide { get; init; }

    /// <summary>Shuffle row groups and rows each epoch; eval streams use false (file order).</summary>
    public bool Shuffle { get; init; } = true;

    /// <summary>
    /// Row groups whose rows are shuffled together (see <see cref="Sampling.EpochOrder"/>); 1 = rows shuffled within
    /// their own row group only. The producer holds up to this many row groups in memory.
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
