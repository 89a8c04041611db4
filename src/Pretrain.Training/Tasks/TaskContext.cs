using Pretrain.Data;
using Pretrain.Data.Datasets;
using Pretrain.Data.Sampling;
using Pretrain.Data.Sources;
using Pretrain.Data.Synthetic;
using Pretrain.Data.Text;
using Pretrain.Distributed;
using Pretrain.Training.Checkpointing;
using Pretrain.Training.Distributed;
using Pretrain.Training.Recipes;
using static TorchSharp.torch;

namespace Pretrain.Training.Tasks;

/// <summary>
/// What every task builder needs from a run: the recipe, the run folder, the device, the data cursor to resume
/// from, and shared helpers (tokenizer, resolved files, stream options) so tasks build their data the same way.
/// </summary>
public sealed class TaskContext(Recipe recipe, string runDir, Device device, DataCursor? resumeCursor, ICollectives? ranks = null)
{
    private ITextTokenizer? _tokenizer;
    private (IReadOnlyList<string> Train, IReadOnlyList<string>? Eval)? _files;
    private IReadOnlyList<IReadOnlyList<string>>? _mixFiles;
    private BadDataLog? _badData;

    public Recipe Recipe { get; } = recipe;
    public string RunDir { get; } = runDir;
    public Device Device { get; } = device;
    public DataCursor? ResumeCursor { get; } = resumeCursor;

    /// <summary>The data-parallel job (world size 1 without a launcher): train streams read rank <see cref="Rank"/>'s shard.</summary>
    public ICollectives Ranks { get; } = ranks ?? SingleProcess.Instance;
    public int Rank => Ranks.Rank;
    public int WorldSize => Ranks.WorldSize;

    /// <summary>Contrastive tasks: negatives from every rank's micro-batch (docs/distributed.md).</summary>
    public CrossRankBatch CrossRank => new(Ranks);

    /// <summary>Whether the train stream is packed text (its ranks' cursors are combined, not equal); set when one is opened.</summary>
    public bool PackedText { get; private set; }

    private string? _initDir;

    /// <summary>The verified step folder init.checkpoint names (null without init).</summary>
    public string? InitDir => Recipe.Init is { } init ? _initDir ??= CheckpointLocator.Resolve(init.Checkpoint).Directory : null;

    /// <summary>The tokenizer: the init checkpoint's own when there is one, else the recipe's (built once).</summary>
    public ITextTokenizer Tokenizer => _tokenizer ??= InitDir is { } dir && Directory.Exists(Path.Combine(dir, "tokenizer"))
        ? TokenizerFactory.Load(Path.Combine(dir, "tokenizer"))
        : TokenizerFactory.Create(new TokenizerOptions
    {
        Kind = Recipe.Tokenizer.Kind,
        Name = Recipe.Tokenizer.Name,
        Path = Recipe.Tokenizer.Path,
        EosToken = Recipe.Tokenizer.EosToken,
        SpecialTokens = Recipe.Tokenizer.SpecialTokens,
        LowerCase = Recipe.Tokenizer.LowerCase,
    });

    /// <summary>The recipe's LoRA settings as the models take them, targets in our names (null without lora).</summary>
    public Pretrain.Models.Peft.LoraConfig? Lora => Recipe.Lora is { } l ? new Pretrain.Models.Peft.LoraConfig
    {
        Rank = l.Rank,
        Alpha = l.Alpha,
        Dropout = l.Dropout,
        Targets = Pretrain.Models.Peft.LoraTargets.Normalize(Recipe.Model.Arch, l.Targets), // query/value (Hugging Face names) → q_proj/v_proj
        Layers = l.Layers,
        UseRslora = l.UseRslora,
        UseDora = l.UseDora,
        QuantizeBase = l.QuantizeBase,
    } : null;

    /// <summary>Which blocks recompute their activations in backward (train.activation_checkpointing; null: none).</summary>
    public Pretrain.Models.Modules.ActivationCheckpointing? ActivationCheckpointing => Recipe.Train.ActivationCheckpointing
        ? new Pretrain.Models.Modules.ActivationCheckpointing { Every = Recipe.Train.ActivationCheckpointingEvery }
        : null;

    /// <summary>Train files, and separate eval files when data.eval names its own (null: held-out fraction or none).</summary>
    public (IReadOnlyList<string> Train, IReadOnlyList<string>? Eval) Files => _files ??= ResolveFiles();

    /// <summary>Share of train rows held out for eval (0 when eval has its own files or there is no eval).</summary>
    public double Holdout => Files.Eval is null ? Recipe.Data.Eval?.Fraction ?? 0 : 0;

    /// <summary>data.on_bad_data for every stream of the run, and the tally the trainer logs (one per run).</summary>
    public BadDataLog BadData => _badData ??= new BadDataLog(Recipe.Data.OnBadData == "skip" ? BadDataAction.Skip : BadDataAction.Fail);

    /// <summary>data.timeout_s: the longest wait for a data producer's next sample.</summary>
    public TimeSpan DataTimeout => TimeSpan.FromSeconds(Recipe.Data.TimeoutS);

    /// <summary>data.train.mix: each component's resolved files (null without a mix).</summary>
    public IReadOnlyList<IReadOnlyList<string>>? MixFiles => Recipe.Data.Train.Mix is null ? null : _mixFiles ??= ResolveMix();

    /// <summary>
    /// The packed-text train stream: one <see cref="PackedTextStream"/>, or with data.train.mix a
    /// <see cref="MixedStream{T}"/> of one per component (each with its own cursor inside the mixed one).
    /// </summary>
    public ISampleStream<int[]> OpenTrainText(int blockSize, ITextTokenizer tokenizer, DataCursor? cursor)
    {
        var options = TrainText(blockSize);
        if (MixFiles is not { } mix)
            return new PackedTextStream(options, tokenizer, cursor);
        var opens = mix.Select((files, i) => (Func<DataCursor?, ISampleStream<int[]>>)(c =>
            new PackedTextStream(options with { Files = files, ConfigKey = $"data.train.mix[{i}]" }, tokenizer, c))).ToList();
        return new MixedStream<int[]>([.. Recipe.Data.Train.Mix!.Select(m => m.Weight)], opens, Recipe.Train.Seed, options.WorldSize, cursor);
    }

    /// <summary>Packed-text stream options for the train split (rows held out for eval are skipped).</summary>
    public PackedTextOptions TrainText(int blockSize)
    {
        PackedText = true;
        return TextOptions(Files.Train, Recipe.Data.Train, "data.train", blockSize) with
        {
            HoldoutFraction = Holdout,
            HoldoutSide = false,
            ShuffleWindow = Recipe.Data.Train.ShuffleWindow,
            Rank = Rank,
            WorldSize = WorldSize,
        };
    }

    /// <summary>Packed-text options for one finite, unshuffled pass over the eval split; null without data.eval.</summary>
    public PackedTextOptions? EvalText(int blockSize) => Recipe.Data.Eval is null ? null
        : TextOptions(Files.Eval ?? Files.Train, Files.Eval is null ? Recipe.Data.Train : Recipe.Data.Eval, Files.Eval is null ? "data.train" : "data.eval", blockSize) with
        {
            HoldoutFraction = Holdout,
            HoldoutSide = Files.Eval is null,
            Shuffle = false,
            MaxEpochs = 1,
        };

    private PackedTextOptions TextOptions(IReadOnlyList<string> files, DataSplit split, string key, int blockSize) => new()
    {
        Files = files,
        TextColumn = split.TextColumn,
        TokenColumn = split.TokenColumn,
        BlockSize = blockSize,
        Seed = Recipe.Train.Seed,
        Prefetch = Recipe.Data.Prefetch,
        ConfigKey = key,
        BadData = BadData,
        Timeout = DataTimeout,
    };

    private IReadOnlyList<IReadOnlyList<string>> ResolveMix() =>
        [.. Recipe.Data.Train.Mix!.Select((m, i) => Of(new DataSplit { Files = m.Files, Synthetic = m.Synthetic }, $"train.mix[{i}]"))];

    private (IReadOnlyList<string>, IReadOnlyList<string>?) ResolveFiles()
    {
        var data = Recipe.Data;
        IReadOnlyList<string> train = MixFiles is { } mix ? [.. mix.SelectMany(f => f)] : Of(data.Train, "train");
        return (train, data.Eval is { Files: null, Synthetic: null } or null ? null : Of(data.Eval, "eval"));
    }

    /// <summary>train.mix[1] → train.mix-1: a folder name without glob characters.</summary>
    private static string Folder(string key) => key.Replace("[", "-", StringComparison.Ordinal).Replace("]", "", StringComparison.Ordinal);

    private IReadOnlyList<string> Of(DataSplit split, string key) => split switch
        {
            { Synthetic: { Kind: "images" } s } => SyntheticImages.Write(
                Path.Combine(RunDir, "data", $"{Folder(key)}-synthetic-images-{s.Rows}x{s.Shards}x{s.RowsPerGroup}-seed{s.Seed}"),
                s.Rows, s.Shards, s.RowsPerGroup, s.Seed),
            { Synthetic: { Kind: "labelled-text" } s } => SyntheticLabelledText.Write(
                Path.Combine(RunDir, "data", $"{Folder(key)}-labelled-{s.Rows}x{s.Shards}x{s.RowsPerGroup}-seed{s.Seed}"),
                s.Rows, s.Shards, s.RowsPerGroup, s.Seed),
            { Synthetic: { Kind: "sft" } s } => SyntheticSft.Write(
                Path.Combine(RunDir, "data", $"{key}-sft-{s.Rows}x{s.Shards}x{s.RowsPerGroup}-seed{s.Seed}"),
                s.Rows, s.Shards, s.RowsPerGroup, s.Seed),
            { Synthetic: { } s } => SyntheticText.Write(
                Path.Combine(RunDir, "data", $"{Folder(key)}-synthetic-{s.Rows}x{s.Shards}x{s.RowsPerGroup}-seed{s.Seed}"),
                s.Rows, s.Shards, s.RowsPerGroup, s.Seed),
            { Files: { } f } => FileResolver.Resolve(f, $"data.{key}.files"),
            _ => throw new RecipeException($"data.{key} needs files or synthetic."),
        };
}
