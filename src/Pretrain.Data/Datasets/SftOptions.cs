namespace Pretrain.Data.Datasets;

/// <summary>Settings of an <see cref="SftStream"/> (one recipe <c>data.train</c> or <c>data.eval</c> section, resolved).</summary>
public sealed record SftOptions
{
    /// <summary>Parquet files, already resolved (see <see cref="Sources.FileResolver"/>); their order is the file order.</summary>
    public required IReadOnlyList<string> Files { get; init; }

    /// <summary>String column holding each row's prompt (may be empty; null is an error).</summary>
    public string PromptColumn { get; init; } = "prompt";

    /// <summary>String column holding each row's response (must encode to at least one token).</summary>
    public string ResponseColumn { get; init; } = "response";

    /// <summary>Ids kept per sample, prompt + response + eos (train.seq_len + 1: the model reads all but the last).</summary>
    public int MaxTokens { get; init; } = 257;

    public int Seed { get; init; }

    public int Rank { get; init; }

    public int WorldSize { get; init; } = 1;

    /// <summary>Bounded background queue length, in rows.</summary>
    public int Prefetch { get; init; } = 64;

    /// <summary>Rows with hash(seed, file name, row group, row) below this are held out for eval.</summary>
    public double HoldoutFraction { get; init; }

    /// <summary>false: train stream (skips held-out rows); true: eval stream (only held-out rows).</summary>
    public bool HoldoutSide { get; init; }

    /// <summary>Shuffle row groups and rows each epoch; eval streams use false (file order).</summary>
    public bool Shuffle { get; init; } = true;

    /// <summary>
    /// Row groups whose rows are shuffled together (see <see cref="Sampling.EpochOrder"/>); 1 = rows shuffled within
    /// their own row group only. The producer holds up to this many row groups in memory. No effect without Shuffle.
    /// </summary>
    public int ShuffleWindow { get; init; } = 1;

    /// <summary>null: endless (train); 1 for eval, after which the stream ends.</summary>
    public int? MaxEpochs { get; init; }

    /// <summary>Recipe section named in error messages.</summary>
    public string ConfigKey { get; init; } = "data.train";

    /// <summary>
    /// The model's chat format (tokenizer.chat_template): each row becomes the template's rendered turn, its answer
    /// and end markers the targets, and no EOS is appended. Null: tokens(prompt) + tokens(response) + eos.
    /// </summary>
    public Text.ChatTemplate? Template { get; init; }

    /// <summary>Longest wait for the producer's next sample (data.timeout_s); null: the Prefetcher default.</summary>
    public TimeSpan? Timeout { get; init; }
}
