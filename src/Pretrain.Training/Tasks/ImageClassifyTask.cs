using Pretrain.Data.Datasets;
using Pretrain.Data.Sampling;
using Pretrain.Data.Vision;
using Pretrain.Models.Heads;
using Pretrain.Models.Peft;
using Pretrain.Models.Vision;
using Pretrain.Models.Weights;
using Pretrain.Training.Recipes;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Training.Tasks;

/// <summary>
/// Image classification (objective.kind classify, model.arch vit): a <see cref="VisionTransformer"/>, from random
/// weights or from init.checkpoint's encoder (an MAE or SimCLR run: the decoder / projection head are left out),
/// pooled by model.global_pool into a <see cref="ClassifierHead"/>; cross-entropy summed over images. Full training
/// without a lora section; with one, only the adapters, the head and lora.trainable train, and checkpoints hold the
/// PEFT adapter over the init base. data.train.label_fraction trains on a seeded subset of the labelled rows.
/// Keep-best ranks by eval_accuracy (higher is better).
/// </summary>
public sealed class ImageClassifyTask : ITrainingTask
{
    private readonly ImageClassifier _model;
    private readonly Func<DataCursor?, ImageStream> _openTrain;
    private readonly Func<ImageStream>? _openEval;
    private readonly Device _device;
    private readonly int _seed;
    private DataCursor? _cursor;
    private ImageStream? _train;
    private string? _initDir;
    private string _initNote = "";
    private double _labelFraction = 1;
    private IReadOnlyList<string> _loraTrainable = [];
    private ImageTransformOptions _transform = ImageTransformOptions.None;

    private ImageClassifyTask(ImageClassifier model, Func<DataCursor?, ImageStream> openTrain, Func<ImageStream>? openEval,
        Device device, int seed, DataCursor? resume)
    {
        (_model, _openTrain, _openEval, _device, _seed, _cursor) = (model, openTrain, openEval, device, seed, resume);
    }

    /// <summary>Builds the classifier (init encoder, LoRA, freezing) and its labelled image streams from the recipe.</summary>
    public static ImageClassifyTask Build(TaskContext ctx)
    {
        var r = ctx.Recipe;
        // With init, the checkpoint fixes the ViT's shape (the recipe's model sizes are ignored, as for text).
        var config = ctx.InitDir is { } init ? ReadConfig(init) : ImageData.VitConfig(r.Model);
        var vit = new VisionTransformer(config, ctx.Lora, ctx.ActivationCheckpointing);
        vit.InitializeWeights(r.Train.Seed);
        string note = ctx.InitDir is { } dir ? ImageClassifierCheckpoint.LoadEncoder(vit, dir) : "";
        torch.manual_seed(r.Train.Seed + 1);
        var head = new ClassifierHead(config.EmbedDim, r.Objective.NumClasses, config.Dropout);
        var model = new ImageClassifier(vit, head);
        if (ctx.Lora is not null)
            LoraModel.FreezeBase(model, [.. r.Lora!.Trainable.Select(t => t.StartsWith("classifier.", StringComparison.Ordinal) ? t : "encoder." + t), "classifier.*"]);
        model.to(ctx.Device);

        // The transform follows the ViT actually built (an init checkpoint may differ from the recipe's model sizes).
        var transform = ImageData.Transform(r with { Model = r.Model with { ImageSize = config.ImageSize, Channels = config.NumChannels } });
        double fraction = r.Data.Train.LabelFraction ?? 1;
        var train = ctx.TrainImages(twoViews: false) with { Transform = transform, LabelFraction = fraction };
        var eval = ctx.EvalImages() is { } e ? e with { Transform = transform } : null;
        return new ImageClassifyTask(model, cursor => new ImageStream(train with { Rank = ctx.Rank, WorldSize = ctx.WorldSize }, cursor), eval is null ? null : () => new ImageStream(eval),
            ctx.Device, r.Train.Seed, ctx.ResumeCursor)
        {
            _initDir = ctx.InitDir,
            _initNote = note,
            _labelFraction = fraction,
            _loraTrainable = r.Lora?.Trainable ?? [],
            _transform = transform,
        };
    }

    private static VitConfig ReadConfig(string dir)
    {
        var path = Path.Combine(dir, "config.json");
        if (!File.Exists(path))
            throw new RecipeException($"init.checkpoint {dir} has no config.json; it is not a ViT checkpoint.");
        try
        {
            return HfVitLayout.ConfigFromJson(System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path))!.AsObject());
        }
        catch (WeightsException ex)
        {
            throw new RecipeException($"init.checkpoint {path}: {ex.Message}", ex);
        }
    }

    /// <summary>The classifier (encoder.* and classifier.*).</summary>
    public nn.Module Model => _model;

    /// <summary>The classifier, typed.</summary>
    public ImageClassifier Classifier => _model;

    public string Describe
    {
        get
        {
            long total = ImageData.ParameterCount(_model), trainable = LoraModel.TrainableParameterCount(_model);
            var c = _model.Encoder.Config;
            return $"vit {c.EmbedDim}d × {c.NumLayers} ({c.NumPatches} patches of {c.PatchSize}px) + {c.GlobalPool} pooling + classifier ({_model.Head.NumClasses} classes), " +
                $"{total / 1e6:F2}M parameters, {trainable:N0} trainable ({100.0 * trainable / total:F3}%)" +
                (_model.Encoder.Lora is { } l ? $", LoRA r={l.Rank} on {string.Join("/", l.Targets)}" : _initDir is null ? ", from random weights" : ", full fine-tune") +
                (_labelFraction < 1 ? $", {_labelFraction:P0} of the labelled train rows (seed {_seed})" : "") +
                (_initDir is null ? "" : $"; {_initNote}");
        }
    }

    public bool HasEval => _openEval is not null;
    public string BestMetric => "eval_accuracy";
    public bool BestMetricHigherIsBetter => true;
    public string CursorJson => (_cursor ?? DataCursor.Start(_seed, 1)).ToJson();
    public bool Decays(string name, TorchSharp.Modules.Parameter parameter) => ImageData.Decays(name, parameter);

    public IReadOnlyList<MicroBatch> NextStep(int gradAccumSteps, int microBatchSize)
    {
        _train ??= _openTrain(_cursor);
        var micro = new List<MicroBatch>(gradAccumSteps);
        for (int m = 0; m < gradAccumSteps; m++)
        {
            var rows = TrainRows.Take(_train, microBatchSize, ref _cursor);
            micro.Add(new MicroBatch(rows, rows.Count, rows.Count));
        }
        return micro;
    }

    public Tensor LossSum(MicroBatch batch)
    {
        var rows = (List<ImageSample>)batch.Samples;
        return nn.functional.cross_entropy(_model.call(ImageData.Collate(rows, _device)), Labels(rows, "data.train"), reduction: nn.Reduction.Sum);
    }

    /// <summary>Mean loss, accuracy, macro-F1 and confusion counts over the eval split.</summary>
    public Dictionary<string, double> Evaluate(int microBatchSize, int maxBatches)
    {
        using var stream = _openEval!();
        return ClassifierEval.Run(stream, microBatchSize, maxBatches, _model, _model.Head.NumClasses,
            rows => (_model.call(ImageData.Collate(rows, _device)), Labels(rows, "data.eval")), r => r.Label, "images");
    }

    private Tensor Labels(List<ImageSample> rows, string key)
    {
        int k = _model.Head.NumClasses;
        if (rows.FirstOrDefault(s => s.Label < 0 || s.Label >= k) is { } s)
        {
            throw new InvalidOperationException(s.Label < 0
                ? $"{key}: the images are unlabelled (no label column); classification needs {key}.label_column."
                : $"{key}: label {s.Label} (epoch {s.Epoch}, position {s.Position}) is outside 0..{k - 1}; set objective.num_classes to the number of classes.");
        }
        return tensor(rows.Select(s => s.Label).ToArray(), ScalarType.Int64).to(_device);
    }

    public void SaveModel(string directory) =>
        ImageClassifierCheckpoint.Save(directory, _model, _initDir, _loraTrainable, _transform);

    public void LoadModel(string directory)
    {
        if (_model.Encoder.Lora is null)
        {
            ImageClassifierCheckpoint.LoadFull(_model, directory);
            return;
        }
        ImageClassifierCheckpoint.LoadEncoder(_model.Encoder, _initDir!);   // the frozen base, then this checkpoint's adapters and head
        PeftAdapterLayout.Load(directory, _model.Encoder, _model.Head, Path.Combine(_initDir!, "model.safetensors"));
    }

    public void Dispose()
    {
        _train?.Dispose();
        _model.Dispose();
    }
}
