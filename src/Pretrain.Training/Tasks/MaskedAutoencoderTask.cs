using Pretrain.Data.Datasets;
using Pretrain.Data.Sampling;
using Pretrain.Models.Vision;
using Pretrain.Models.Weights;
using Pretrain.Training.Recipes;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Training.Tasks;

/// <summary>
/// Masked autoencoder pretraining of a <see cref="VisionTransformer"/> (He et al. 2021): each image hides a random
/// mask_ratio of its patches, the encoder sees the visible patches only, a light <see cref="MaeDecoder"/> fills in
/// mask tokens and predicts every patch, and the loss is the mean squared error over the pixels of the masked
/// patches (per-patch normalised when norm_pix_loss). A sample's mask is seeded by its data position, so resume
/// reproduces it exactly.
/// </summary>
public sealed class MaskedAutoencoderTask : ITrainingTask
{
    private readonly VisionTransformer _vit;
    private readonly MaeDecoder _decoder;
    private readonly TaskModule _module;
    private readonly double _ratio;
    private readonly bool _normPix;
    private readonly int _seed;
    private readonly Func<DataCursor?, ImageStream> _openTrain;
    private readonly Func<ImageStream>? _openEval;
    private readonly ImageDataProbe _probe;
    private readonly Device _device;
    private DataCursor? _cursor;
    private ImageStream? _train;

    private MaskedAutoencoderTask(VisionTransformer vit, MaeDecoder decoder, double ratio, bool normPix, int seed,
        Func<DataCursor?, ImageStream> openTrain, Func<ImageStream>? openEval, ImageDataProbe probe, Device device, DataCursor? resume)
    {
        _vit = vit;
        _decoder = decoder;
        _module = new TaskModule(("encoder", vit), ("decoder", decoder));
        (_ratio, _normPix, _seed) = (ratio, normPix, seed);
        (_openTrain, _openEval, _probe, _device, _cursor) = (openTrain, openEval, probe, device, resume);
    }

    public static MaskedAutoencoderTask Build(TaskContext ctx)
    {
        var r = ctx.Recipe;
        if (r.Init is not null || r.Lora is not null)
            throw new RecipeException("objective.kind mae trains from random weights; remove init and lora.");
        var config = ImageData.VitConfig(r.Model);
        var decoderConfig = new MaeDecoderConfig { EmbedDim = r.Objective.DecoderDim, NumLayers = r.Objective.DecoderLayers, NumHeads = r.Objective.DecoderHeads };
        TaskModels.Validate(decoderConfig.Validate);
        var vit = new VisionTransformer(config, checkpointing: ctx.ActivationCheckpointing);
        vit.InitializeWeights(r.Train.Seed);
        var decoder = new MaeDecoder(config, decoderConfig, ctx.ActivationCheckpointing);
        decoder.InitializeWeights(r.Train.Seed + 1);
        vit.to(ctx.Device);
        decoder.to(ctx.Device);
        var train = ctx.TrainImages(twoViews: false);
        var eval = ctx.EvalImages();
        var probe = new ImageDataProbe(eval is null ? "none" : r.Objective.Probe, r.Objective.ProbeTrainRows, r.Objective.ProbeEvalRows,
            () => new ImageStream(ctx.ProbeTrainImages()), () => new ImageStream(eval!), ctx.Device, r.Train.Seed);
        return new MaskedAutoencoderTask(vit, decoder, r.Objective.MaskRatio, r.Objective.NormPixLoss, r.Train.Seed,
            cursor => new ImageStream(train with { Rank = ctx.Rank, WorldSize = ctx.WorldSize }, cursor), eval is null ? null : () => new ImageStream(eval), probe, ctx.Device, ctx.ResumeCursor);
    }

    public nn.Module Model => _module;
    public string Describe
    {
        get
        {
            var c = _vit.Config;
            return $"vit {c.EmbedDim}d × {c.NumLayers} ({c.NumPatches} patches of {c.PatchSize}px, {c.PosEmbed} positions) + MAE decoder " +
                $"{_decoder.Config.EmbedDim}d × {_decoder.Config.NumLayers}, mask {_ratio:0.##} ({Visible(c.NumPatches, _ratio)} visible), " +
                $"{ImageData.ParameterCount(_module) / 1e6:F2}M parameters";
        }
    }
    public bool HasEval => _openEval is not null;
    public string BestMetric => "eval_loss";
    public string CursorJson => (_cursor ?? DataCursor.Start(_seed, 1)).ToJson();
    public bool Decays(string name, TorchSharp.Modules.Parameter parameter) => ImageData.Decays(name, parameter);

    /// <summary>Patches the encoder sees: K = round(N·(1 − ratio)), at least 1 and at most N − 1.</summary>
    public static int Visible(int patches, double ratio) => Math.Clamp((int)Math.Round(patches * (1 - ratio)), 1, patches - 1);

    /// <summary>
    /// MAE's random masking for one sample (He et al. 2021, §3, as in the reference code): noise per patch from an
    /// RNG seeded by <paramref name="key"/>; shuffle = argsort(noise); keep = shuffle[..K] (ascending noise order);
    /// restore = argsort(shuffle), so restore[n] is patch n's slot in [kept…, masked…] and restore[n] &lt; K iff
    /// patch n is visible.
    /// </summary>
    public static (long[] Keep, long[] Restore) Mask(ulong key, int patches, double ratio)
    {
        var rng = new Random(unchecked((int)key ^ (int)(key >> 32)));
        var noise = new double[patches];
        for (int i = 0; i < patches; i++) noise[i] = rng.NextDouble();
        var shuffle = Enumerable.Range(0, patches).OrderBy(i => noise[i]).ThenBy(i => i).Select(i => (long)i).ToArray();
        var restore = new long[patches];
        for (int slot = 0; slot < patches; slot++) restore[shuffle[slot]] = slot;
        return (shuffle[..Visible(patches, ratio)], restore);
    }

    /// <summary>Regression targets (B, N, p·p·C): the patches, each normalised by its own mean and variance (eps 1e-6) when <paramref name="normPix"/>.</summary>
    public static Tensor Targets(Tensor images, int patchSize, bool normPix)
    {
        var target = ImagePatches.Patchify(images, patchSize);                   // (B, N, P)
        if (!normPix) return target;
        var mean = target.mean([-1L], keepdim: true);
        var variance = target.var(-1, unbiased: true, keepdim: true);            // MAE uses torch's default (unbiased)
        return (target - mean) / (variance + 1e-6).sqrt();
    }

    /// <summary>Σ over masked patches of the mean squared error over that patch's values; mask (B, N) is 1 for hidden patches.</summary>
    public static Tensor MaskedLossSum(Tensor prediction, Tensor target, Tensor mask) =>
        ((prediction - target).square().mean([-1L]) * mask).sum();              // (B, N) → scalar

    public IReadOnlyList<MicroBatch> NextStep(int gradAccumSteps, int microBatchSize)
    {
        _train ??= _openTrain(_cursor);
        int n = _vit.Config.NumPatches, hidden = n - Visible(n, _ratio);
        var micro = new List<MicroBatch>(gradAccumSteps);
        for (int m = 0; m < gradAccumSteps; m++)
        {
            var rows = TrainRows.Take(_train, microBatchSize, ref _cursor).ConvertAll(MaskOf);
            micro.Add(new MicroBatch(rows, (long)rows.Count * hidden, rows.Count));
        }
        return micro;
    }

    public Tensor LossSum(MicroBatch batch) => Loss((List<Masked>)batch.Samples);

    /// <summary>Mean loss per masked patch over the eval split (masks seeded by position), then the probes.</summary>
    public Dictionary<string, double> Evaluate(int microBatchSize, int maxBatches)
    {
        double sum = 0;
        long terms = 0;
        int hidden = _vit.Config.NumPatches - Visible(_vit.Config.NumPatches, _ratio);
        using (var stream = _openEval!())
        {
            foreach (var samples in SampleBatches.Of(stream, microBatchSize, maxBatches))
            {
                var rows = samples.ConvertAll(MaskOf);
                using var scope = NewDisposeScope();
                using var noGrad = no_grad();
                sum += Loss(rows).item<float>();
                terms += (long)rows.Count * hidden;
            }
        }
        if (terms == 0)
            throw new InvalidOperationException("The eval split produced no image. Give data.eval rows.");
        var metrics = new Dictionary<string, double> { ["eval_loss"] = sum / terms, ["eval_images"] = terms / hidden };
        foreach (var (k, v) in _probe.Run(x => _vit.Pool(_vit.call(x))))
            metrics[k] = v;
        return metrics;
    }

    public void SaveModel(string directory)
    {
        using (NewDisposeScope())
            Safetensors.Save(Path.Combine(directory, "model.safetensors"), HfVitLayout.ToHf(_vit, decoder: _decoder),
                new Dictionary<string, string> { ["format"] = "pt" });
        var config = HfVitLayout.ConfigJson(_vit.Config, _decoder.Config);
        File.WriteAllText(Path.Combine(directory, "config.json"), config.ToJsonString(TrainerState.Json));
    }

    public void LoadModel(string directory)
    {
        using (NewDisposeScope())
            HfVitLayout.LoadHf(_vit, Safetensors.Load(Path.Combine(directory, "model.safetensors")), decoder: _decoder);
    }

    public void Dispose()
    {
        _train?.Dispose();
        _module.Dispose();
    }

    private sealed record Masked(ImageSample Sample, long[] Keep, long[] Restore);

    private Masked MaskOf(ImageSample s)
    {
        var (keep, restore) = Mask(StableHash.Combine((ulong)_seed, 0x3AE, (ulong)s.Epoch, (ulong)s.Position), _vit.Config.NumPatches, _ratio);
        return new Masked(s, keep, restore);
    }

    private Tensor Loss(List<Masked> rows)
    {
        int b = rows.Count, n = _vit.Config.NumPatches, k = rows[0].Keep.Length;
        var keep = new long[b * k];
        var restore = new long[b * n];
        var mask = new float[b * n];
        for (int i = 0; i < b; i++)
        {
            Array.Copy(rows[i].Keep, 0, keep, i * k, k);
            Array.Copy(rows[i].Restore, 0, restore, i * n, n);
            for (int j = 0; j < n; j++) mask[(i * n) + j] = rows[i].Restore[j] >= k ? 1 : 0;
        }
        var images = ImageData.Collate(rows.Select(r => r.Sample).ToList(), _device);     // (B, C, H, W)
        var latent = _vit.ForwardVisible(images, tensor(keep, [b, k]).to(_device));       // (B, 1 + K, d)
        var prediction = _decoder.call(latent, tensor(restore, [b, n]).to(_device));      // (B, N, P)
        var target = Targets(images, _vit.Config.PatchSize, _normPix);                     // (B, N, P)
        return MaskedLossSum(prediction, target, tensor(mask, [b, n]).to(_device));
    }
}
