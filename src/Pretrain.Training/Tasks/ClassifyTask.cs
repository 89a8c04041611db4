using Pretrain.Data.Datasets;
using Pretrain.Data.Sampling;
using Pretrain.Data.Text;
using Pretrain.Models.Heads;
using Pretrain.Models.Peft;
using Pretrain.Models.Text;
using Pretrain.Models.Weights;
using Pretrain.Training.Recipes;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Training.Tasks;

/// <summary>
/// Sequence classification (fine-tuning): a BERT-style encoder, usually initialised from init.checkpoint (e.g. the
/// imported all-MiniLM-L6-v2), pooled (objective.pooling cls|mean) into a <see cref="ClassifierHead"/>; cross-entropy
/// summed over rows. Full fine-tuning without a lora section; with one, only the adapters, the head and
/// lora.trainable train, and checkpoints hold the PEFT adapter (SEQ_CLS, head as modules_to_save) over the init base.
/// </summary>
public sealed class ClassifyTask : IDistillableTask
{
    private readonly SequenceClassifier _model;
    private readonly ITextTokenizer _tokenizer;
    private readonly Func<DataCursor?, LabelledTextStream> _openTrain;
    private readonly Func<LabelledTextStream>? _openEval;
    private readonly Device _device;
    private readonly int _cls, _sep, _pad;
    private DataCursor? _cursor;
    private LabelledTextStream? _train;
    private string? _initDir;
    private IReadOnlyList<string> _loraTrainable = [];
    private int _seqLen;

    private ClassifyTask(SequenceClassifier model, ITextTokenizer tokenizer, Func<DataCursor?, LabelledTextStream> openTrain,
        Func<LabelledTextStream>? openEval, Device device, DataCursor? resume)
    {
        var specials = (ISpecialTokens)tokenizer;
        _model = model;
        _tokenizer = tokenizer;
        _openTrain = openTrain;
        _openEval = openEval;
        _device = device;
        _cursor = resume;
        _cls = specials.ClsId!.Value;
        _sep = specials.SepId!.Value;
        _pad = specials.PadId!.Value;
    }

    /// <summary>Builds the classifier (init weights, LoRA, freezing) and its labelled-text streams from the recipe.</summary>
    public static ClassifyTask Build(TaskContext ctx)
    {
        var recipe = ctx.Recipe;
        var o = recipe.Objective;
        var tokenizer = ctx.Tokenizer;
        if (tokenizer is not ISpecialTokens { ClsId: not null, SepId: not null, PadId: not null })
            throw new RecipeException("objective.kind classify needs [CLS], [SEP] and [PAD] tokens: use a wordpiece vocabulary (or the init checkpoint's tokenizer), or add tokenizer.special_tokens: ['[CLS]', '[SEP]', '[PAD]'].");
        var config = ctx.InitDir is { } init ? ClassifierCheckpoint.ReadEncoderConfig(init) : MaskedLmTask.EncoderConfig(recipe.Model, tokenizer);
        if (recipe.Train.SeqLen > config.MaxSeqLen)
            throw new RecipeException($"train.seq_len ({recipe.Train.SeqLen}) exceeds the encoder's {config.MaxSeqLen} positions{(ctx.InitDir is null ? "" : $" ({ctx.InitDir}/config.json)")}; lower train.seq_len.");
        var encoder = new EncoderLm(config, ctx.Lora, ctx.ActivationCheckpointing);
        encoder.InitializeWeights(recipe.Train.Seed);
        if (ctx.InitDir is { } dir)
            LoadBase(encoder, dir);
        torch.manual_seed(recipe.Train.Seed + 1);
        var head = new ClassifierHead(config.EmbedDim, o.NumClasses, config.Dropout);
        var model = new SequenceClassifier(encoder, head, o.Pooling);
        if (ctx.Lora is not null)
            LoraModel.FreezeBase(model, [.. recipe.Lora!.Trainable.Select(t => t.StartsWith("classifier.", StringComparison.Ordinal) ? t : "encoder." + t), "classifier.*"]);
        model.to(ctx.Device);

        int maxTokens = recipe.Train.SeqLen - 2; // room for [CLS] and [SEP]
        var files = ctx.Files;
        LabelledTextOptions Options(IReadOnlyList<string> f, DataSplit split, string key) => new()
        {
            Files = f,
            TextColumn = split.TextColumn,
            LabelColumn = split.LabelColumn,
            NumClasses = o.NumClasses,
            MaxTokens = maxTokens,
            Seed = recipe.Train.Seed,
            Prefetch = Math.Max(recipe.Data.Prefetch, recipe.Train.MicroBatchSize * recipe.Train.GradAccumSteps),
            ConfigKey = key,            BadData = ctx.BadData,
            Timeout = ctx.DataTimeout,
        };
        var train = Options(files.Train, recipe.Data.Train, "data.train") with
        {
            HoldoutFraction = ctx.Holdout,
            HoldoutSide = false,
            ShuffleWindow = recipe.Data.Train.ShuffleWindow,
        };
        LabelledTextOptions? eval = recipe.Data.Eval is null ? null
            : Options(files.Eval ?? files.Train, files.Eval is null ? recipe.Data.Train : recipe.Data.Eval, files.Eval is null ? "data.train" : "data.eval") with
            {
                HoldoutFraction = ctx.Holdout,
                HoldoutSide = files.Eval is null,
                Shuffle = false,
                MaxEpochs = 1,
            };
        return new ClassifyTask(model, tokenizer,
            cursor => new LabelledTextStream(train with { Rank = ctx.Rank, WorldSize = ctx.WorldSize }, tokenizer, cursor),   // this rank's shard
            eval is null ? null : () => new LabelledTextStream(eval, tokenizer),
            ctx.Device, ctx.ResumeCursor)
        {
            _initDir = ctx.InitDir,
            _loraTrainable = recipe.Lora?.Trainable ?? [],
            _seqLen = recipe.Train.SeqLen,
        };
    }

    private static void LoadBase(EncoderLm encoder, string dir)
    {
        var path = Path.Combine(dir, "model.safetensors");
        if (!File.Exists(path))
            throw new RecipeException($"init.checkpoint {dir} has no model.safetensors (an adapter-only LoRA run?). Start from a full checkpoint or an imported model.");
        using (NewDisposeScope())
            HfEncoderLayout.LoadHf(encoder, Safetensors.Load(path));   // heads in the file (cls.*, classifier.*) are skipped
    }

    /// <summary>The classifier (encoder.* and classifier.*).</summary>
    public nn.Module Model => _model;

    public string Describe
    {
        get
        {
            long total = _model.parameters().Sum(p => p.numel()), trainable = LoraModel.TrainableParameterCount(_model);
            var c = _model.Encoder.Config;
            return $"bert encoder ({c.NumLayers} layers, width {c.EmbedDim}) + {_model.Pooling} pooling + classifier ({_model.Head.NumClasses} classes), " +
                $"{total / 1e6:F2}M parameters, {trainable:N0} trainable ({100.0 * trainable / total:F3}%)" +
                (_model.Encoder.Lora is { } l ? $", LoRA r={l.Rank} on {string.Join("/", l.Targets)}" : ", full fine-tune") +
                (_initDir is null ? "" : $", from {_initDir}");
        }
    }

    public bool HasEval => _openEval is not null;
    public string BestMetric => "eval_accuracy";
    public bool BestMetricHigherIsBetter => true;
    public string CursorJson => (_cursor ?? DataCursor.Start(0, 1)).ToJson();

    public IReadOnlyList<MicroBatch> NextStep(int gradAccumSteps, int microBatchSize)
    {
        _train ??= _openTrain(_cursor);
        var micro = new List<MicroBatch>(gradAccumSteps);
        for (int m = 0; m < gradAccumSteps; m++)
        {
            var rows = TrainRows.Take(_train, microBatchSize, ref _cursor);
            micro.Add(new MicroBatch(rows, rows.Count, rows.Sum(r => (long)r.Ids.Length + 2)));
        }
        return micro;
    }

    public Tensor LossSum(MicroBatch batch)
    {
        var (ids, mask, labels) = ClassifyBatch.Collate((List<LabelledText>)batch.Samples, _cls, _sep, _pad, _device);
        return nn.functional.cross_entropy(_model.call(ids, mask), labels, reduction: nn.Reduction.Sum);
    }

    /// <summary>Mean loss, accuracy, macro-F1 and confusion counts over the eval split.</summary>
    public Dictionary<string, double> Evaluate(int microBatchSize, int maxBatches)
    {
        using var stream = _openEval!();
        return ClassifierEval.Run(stream, microBatchSize, maxBatches, _model, _model.Head.NumClasses, rows =>
        {
            var (ids, mask, labels) = ClassifyBatch.Collate(rows, _cls, _sep, _pad, _device);
            return (_model.call(ids, mask), labels);
        }, r => r.Label, "rows");
    }

    /// <summary>A classification checkpoint (full, or LoRA over its base) as <see cref="ClassifierCheckpoint.Open"/> reads it, frozen.</summary>
    public nn.Module LoadTeacher(string directory)
    {
        var (teacher, _, _) = ClassifierCheckpoint.Open(directory, _device);
        int classes = teacher.Head.NumClasses;
        if (classes != _model.Head.NumClasses)
        {
            teacher.Dispose();
            throw new RecipeException($"objective.teacher {directory} has {classes} classes, objective.num_classes is {_model.Head.NumClasses}; they must match.");
        }
        return TeacherModules.Freeze(teacher);
    }

    /// <summary>Class logits (B, classes) and labels (B,) of a row batch.</summary>
    public (Tensor Logits, Tensor Targets) Logits(nn.Module model, MicroBatch batch, Pretrain.Models.Modules.LayerCapture? capture = null)
    {
        var (ids, mask, labels) = ClassifyBatch.Collate((List<LabelledText>)batch.Samples, _cls, _sep, _pad, _device);
        var classifier = (SequenceClassifier)model;
        return (capture is null ? classifier.call(ids, mask) : classifier.forward(ids, mask, capture), labels);
    }

    public (int Layers, int Width, int Heads) Shape(nn.Module model)
    {
        var c = ((SequenceClassifier)model).Encoder.Config;
        return (c.NumLayers, c.EmbedDim, c.NumHeads);
    }

    public void SaveModel(string directory) =>
        ClassifierCheckpoint.Save(directory, _model, _tokenizer, _initDir, _loraTrainable, _seqLen);

    public void LoadModel(string directory)
    {
        if (_model.Encoder.Lora is null)
        {
            ClassifierCheckpoint.LoadFull(_model, directory);
            return;
        }
        LoadBase(_model.Encoder, _initDir!);   // the frozen base, then this checkpoint's adapters and head (base sha256 checked)
        PeftAdapterLayout.Load(directory, _model.Encoder, _model.Head, Path.Combine(_initDir!, "model.safetensors"));
    }

    public void Dispose()
    {
        _train?.Dispose();
        _model.Dispose();
    }
}
