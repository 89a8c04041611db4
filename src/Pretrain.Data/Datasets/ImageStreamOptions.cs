using Pretrain.Data.Vision;

namespace Pretrain.Data.Datasets;

/// <summary>Settings of an <see cref="ImageStream"/> (one recipe <c>data.train</c> or <c>data.eval</c> section, resolved).</summary>
public sealed record ImageStreamOptions
{
    /// <summary>Parquet files, already resolved (see <see cref="Sources.FileResolver"/>); their order is the file order.</summary>
    public required IReadOnlyList<string> Files { get; init; }

    /// <summary>A struct {bytes: binary, path: string} (Hugging Face layout) or a plain binary column of encoded images.</summary>
    public string ImageColumn { get; init; } = "image";

    /// <summary>int64 (or int32) label column; null reads the images unlabelled (label −1).</summary>
    public string? LabelColumn { get; init; } = "label";

    public int Seed { get; init; }

    public int Rank { get; init; }

    public int WorldSize { get; init; } = 1;

    /// <summary>Bounded background queue length, in samples.</summary>
    public int Prefetch { get; init; } = 64;

    /// <summary>Threads that decode and augment (each chunk of a row group is split between them; output order is fixed).</summary>
    public int Workers { get; init; } = 1;

    /// <summary>Rows with hash(seed, file name, row group, row) below this are held out for eval.</summary>
    public double HoldoutFraction { get; init; }

    /// <summary>false: train stream (skips held-out rows); true: eval stream (only held-out rows).</summary>
    public bool HoldoutSide { get; init; }

    /// <summary>
    /// Share of the (non-held-out) rows this stream reads, chosen by <see cref="Sampling.LabelSubset"/> from the seed:
    /// 1 reads all; 0.1 trains on a fixed 10% of the labels (the same rows for every run with the same seed).
    /// </summary>
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

    /// <summary>Decode → transform pipeline; random steps are seeded per (seed, epoch, position, view).</summary>
    public ImageTransformOptions Transform { get; init; } = ImageTransformOptions.None;

    /// <summary>false (eval): the transform's deterministic counterpart (<see cref="ImageTransformOptions.ForEval"/>) is used.</summary>
    public bool Augment { get; init; } = true;

    /// <summary>Also produce <see cref="ImageSample.SecondView"/>, an independently augmented second view.</summary>
    public bool TwoViews { get; init; }

    /// <summary>false (default): an undecodable or null image fails the stream; true: it is skipped and counted. Ignored when
    /// <see cref="BadData"/> is set (the recipe's <c>data.on_bad_data</c> decides then).</summary>
    public bool SkipBadImages { get; init; }

    /// <summary>Bad rows and row groups: fail (null, the default) or skip and count (recipe <c>data.on_bad_data</c>).</summary>
    public BadDataLog? BadData { get; init; }

    /// <summary>Longest wait for the background producer's next item before a DataException (recipe <c>data.timeout_s</c>; null: 300 s).</summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>Recipe section named in error messages.</summary>
    public string ConfigKey { get; init; } = "data.train";
}
