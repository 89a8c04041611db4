using Pretrain.Data.Datasets;
using Pretrain.Data.Sampling;
using Pretrain.Models.Heads;
using Pretrain.Models.Vision;
using Pretrain.Models.Weights;
using Pretrain.Training.Distributed;
using Pretrain.Training.Objectives;
using Pretrain.Training.Recipes;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Training.Tasks;

/// <summary>
/// SimCLR pretraining of a <see cref="VisionTransformer"/> (Chen et al. 2020): two independently augmented views of
/// each image → ViT → pooled features h → 2-layer <see cref="ProjectionHead"/> z → NT-Xent over the 2N views of the
/// micro-batch (temperature default 0.5). Views are seeded by data position, so resume reproduces them exactly.
/// Eval: NT-Xent on two views of each eval image made with the train augmentation — identical views would make the
/// task trivial — which is still the same every evaluation (seeded by position), so eval_loss is comparable over
/// time (it depends on the micro-batch size: more negatives, higher loss); then the probes on pooled features h.
/// </summary>
public sealed class SimClrTask : ITrainingTask
{
    private const string HeadFile = "projection_head.safetensors";

    private readonly VisionTransformer _vit;
    private readonly ProjectionHead _head;
    private readonly TaskModule _module;
    private readonly double _temperature;
    private readonly int _seed;
    private readonly Func<DataCursor?, ImageStream> _openTrain;
    private readonly Func<ImageStream>? _openEval;
    private readonly ImageDataProbe _probe;
    private readonly Device _device;
    private DataCursor? _cursor;
    private ImageStream? _train;
    private CrossRankBatch? _ranks;

    private SimClrTask(VisionTransformer vit, ProjectionHead head, double temperature, int seed,
        Func<DataCursor?, ImageStream> openTrain, Func<ImageStream>? openEval, ImageDataProbe probe, Device device, DataCursor? resume)
    {
        (_vit, _head) = (vit, head);
        _module = new TaskModule(("encoder", vit), ("projection", head));
        (_temperature, _seed) = (temperature, seed);
        (_openTrain, _openEval, _probe, _device, _cursor) = (openTrain, openEval, probe, device, resume);
    }

    public static SimClrTask Build(TaskContext ctx)
    {
        var r = ctx.Recipe;
        if (r.Init is not null || r.Lora is not null)
            throw new RecipeException("objective.kind simclr trains from random weights; remove init and lora.");
        var config = ImageData.VitConfig(r.Model);
        var vit = new VisionTransformer(config, checkpointing: ctx.ActivationCheckpointing);
        vit.InitializeWeights(r.Train.Seed);
        var head = new ProjectionHead(config.EmbedDim, config.EmbedDim, r.Objective.ProjectionDim);
        using (var gen = new Generator((ulong)r.Train.Seed + 2))
        using (no_grad())
        {
            foreach (var (name, p) in head.named_parameters())   // seeded, so a run depends on nothing else
            {
                if (name.EndsWith("bias", StringComparison.Ordinal)) p.zero_();
                else p.copy_(randn(p.shape, generator: gen) * 0.02);
            }
        }
        vit.to(ctx.Device);
        head.to(ctx.Device);
        var train = ctx.TrainImages(twoViews: true);
        var evalViews = ctx.EvalImages(twoViews: true, augment: true);
        var evalPlain = ctx.EvalImages();
        var probe = new ImageDataProbe(evalPlain is null ? "none" : r.Objective.Probe, r.Objective.ProbeTrainRows, r.Objective.ProbeEvalRows,
            () => new ImageStream(ctx.ProbeTrainImages()), () => new ImageStream(evalPlain!), ctx.Device, r.Train.Seed);
        return new SimClrTask(vit, head, r.Objective.Temperature ?? 0.5, r.Train.Seed,
            cursor => new ImageStream(train with { Rank = ctx.Rank, WorldSize = ctx.WorldSize }, cursor), evalViews is null ? null : () => new ImageStream(evalViews), probe, ctx.Device, ctx.ResumeCursor)
        { _ranks = ctx.CrossRank };
    }

    public nn.Module Model => _module;
    public string Describe
    {
        get
        {
            var c = _vit.Config;
            return $"vit {c.EmbedDim}d × {c.NumLayers} ({c.NumPatches} patches of {c.PatchSize}px, {c.GlobalPool} pooling) + projection head → " +
                $"NT-Xent (τ {_temperature:0.###}), {ImageData.ParameterCount(_module) / 1e6:F2}M parameters";
        }
    }
    public bool HasEval => _openEval is not null;
    public string BestMetric => "eval_loss";
    public string CursorJson => (_cursor ?? DataCursor.Start(_seed, 1)).ToJson();
    public bool Decays(string name, TorchSharp.Modules.Parameter parameter) => ImageData.Decays(name, parameter);

    public IReadOnlyList<MicroBatch> NextStep(int gradAccumSteps, int microBatchSize)
    {
        if (microBatchSize < 2)
            throw new RecipeException("objective.kind simclr needs train.micro_batch_size >= 2 (the other images are the negatives).");
        _train ??= _openTrain(_cursor);
        var micro = new List<MicroBatch>(gradAccumSteps);
        for (int m = 0; m < gradAccumSteps; m++)
        {
            var rows = TrainRows.Take(_train, microBatchSize, ref _cursor);
            micro.Add(new MicroBatch(rows, 2L * rows.Count, 2L * rows.Count));
        }
        return micro;
    }

    public Tensor LossSum(MicroBatch batch) => Loss((List<ImageSample>)batch.Samples, _ranks);

    /// <summary>
    /// Summed NT-Xent of two views: (B, C, H, W) twice → scalar over 2B anchors; with <paramref name="ranks"/>, the
    /// negatives are every rank's views (training; eval stays local).
    /// </summary>
    public Tensor Loss(List<ImageSample> rows, CrossRankBatch? ranks = null)
    {
        var z1 = _head.call(_vit.Pool(_vit.call(ImageData.Collate(rows, _device))));                    // (B, out)
        var z2 = _head.call(_vit.Pool(_vit.call(ImageData.Collate(rows, _device, secondView: true))));  // (B, out)
        return ContrastiveLoss.NtXent(z1, z2, _temperature, ranks);
    }

    /// <summary>Mean NT-Xent per view over the eval split (fixed views, micro-batches of the train size), then the probes.</summary>
    public Dictionary<string, double> Evaluate(int microBatchSize, int maxBatches)
    {
        double sum = 0;
        long terms = 0;
        using (var stream = _openEval!())
        {
            foreach (var rows in SampleBatches.Of(stream, microBatchSize, maxBatches))
            {
                if (rows.Count < 2) break;   // a last batch of one image has no negatives
                using var scope = NewDisposeScope();
                using var noGrad = no_grad();
                sum += Loss(rows).item<float>();
                terms += 2L * rows.Count;
            }
        }
        if (terms == 0)
            throw new InvalidOperationException("The eval split produced fewer than two images. Give data.eval more rows.");
        var metrics = new Dictionary<string, double> { ["eval_loss"] = sum / terms, ["eval_views"] = terms };
        foreach (var (k, v) in _probe.Run(x => _vit.Pool(_vit.call(x))))
            metrics[k] = v;
        return metrics;
    }

    public void SaveModel(string directory)
    {
        var meta = new Dictionary<string, string> { ["format"] = "pt" };
        using (NewDisposeScope())
        {
            Safetensors.Save(Path.Combine(directory, "model.safetensors"), HfVitLayout.ToHf(_vit), meta);
            Safetensors.Save(Path.Combine(directory, HeadFile),
                _head.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter.detach()), meta);
        }
        File.WriteAllText(Path.Combine(directory, "config.json"), HfVitLayout.ConfigJson(_vit.Config).ToJsonString(TrainerState.Json));
    }

    public void LoadModel(string directory)
    {
        using var scope = NewDisposeScope();
        HfVitLayout.LoadHf(_vit, Safetensors.Load(Path.Combine(directory, "model.safetensors")));
        string headPath = Path.Combine(directory, HeadFile);
        if (!File.Exists(headPath)) return;   // a plain ViT folder: the head keeps its fresh weights
        var saved = Safetensors.Load(headPath);
        using var noGrad = no_grad();
        foreach (var (name, p) in _head.named_parameters())
        {
            if (!saved.TryGetValue(name, out var t) || !t.shape.SequenceEqual(p.shape))
                throw new InvalidOperationException($"{headPath}: '{name}' is missing or has another shape than the model's [{string.Join(", ", p.shape)}].");
            p.copy_(t);
        }
    }

    public void Dispose()
    {
        _train?.Dispose();
        _module.Dispose();
    }
}
