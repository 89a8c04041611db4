using Pretrain.Data.Datasets;
using Pretrain.Data.Vision;
using Pretrain.Models.Vision;
using Pretrain.Training.Recipes;
using static TorchSharp.torch;

namespace Pretrain.Training.Tasks;

/// <summary>
/// What the image tasks (mae, simclr) share: the recipe's ViT config, its augmentation as an
/// <see cref="ImageTransformOptions"/>, image-stream options for the train, eval and probe passes, and collation.
/// </summary>
public static class ImageData
{
    /// <summary>Maps the recipe's model section to a ViT config (always with a class token, as MAE and HF ViT).</summary>
    public static VitConfig VitConfig(ModelSection m)
    {
        var config = new VitConfig
        {
            ImageSize = m.ImageSize,
            PatchSize = m.PatchSize,
            NumChannels = m.Channels,
            EmbedDim = m.EmbedDim,
            NumLayers = m.NumLayers,
            NumHeads = m.NumHeads,
            MlpHiddenDim = m.MlpHiddenDim,
            QkvBias = m.QkvBias,
            NormEps = m.NormEps ?? 1e-12,
            Dropout = m.Dropout,
            AttentionDropout = m.AttentionDropout ?? m.Dropout,
            GlobalPool = m.GlobalPool,
            PosEmbed = m.PosEmbed,
        };
        TaskModels.Validate(config.Validate);
        return config;
    }

    /// <summary>
    /// data.augment with the objective's defaults filled in: crop scale 0.2–1 and flip 0.5 (MAE §A.1; SimCLR's crop
    /// widened from 0.08, which leaves too little of a 28-pixel image); simclr on colour images adds jitter 0.5 (p 0.8)
    /// and grayscale 0.2; gray images get no colour steps unless asked. Output: model.channels × image_size².
    /// </summary>
    public static ImageTransformOptions Transform(Recipe recipe)
    {
        var a = recipe.Data.Augment;
        var m = recipe.Model;
        bool colourSimClr = recipe.Objective.Kind == "simclr" && m.Channels == 3;
        var scale = a.CropScale ?? [0.2, 1.0];
        double jitter = a.ColorJitter ?? (colourSimClr ? 0.5 : 0);
        bool crop = scale[0] < 1;
        return new ImageTransformOptions
        {
            Channels = m.Channels,
            Resize = crop ? null : m.ImageSize,
            CenterCrop = crop ? null : m.ImageSize,
            RandomResizedCrop = crop ? new RandomResizedCropOptions { Size = m.ImageSize, ScaleMin = scale[0], ScaleMax = scale[1] } : null,
            HorizontalFlip = a.HorizontalFlip ?? 0.5,
            ColorJitter = jitter > 0
                ? new ColorJitterOptions { Brightness = 0.8 * jitter, Contrast = 0.8 * jitter, Saturation = 0.8 * jitter, Hue = 0.2 * jitter, P = 0.8 }
                : null,
            Grayscale = a.Grayscale ?? (colourSimClr ? 0.2 : 0),
            Mean = a.Mean?.Select(x => (float)x).ToArray(),
            Std = a.Std?.Select(x => (float)x).ToArray(),
        };
    }

    /// <summary>Endless, shuffled, augmented train stream (held-out rows skipped); two views for contrastive tasks.</summary>
    public static ImageStreamOptions TrainImages(this TaskContext ctx, bool twoViews) =>
        Options(ctx, ctx.Files.Train, ctx.Recipe.Data.Train, "data.train") with
        {
            HoldoutFraction = ctx.Holdout,
            HoldoutSide = false,
            TwoViews = twoViews,
            ShuffleWindow = ctx.Recipe.Data.Train.ShuffleWindow,
        };

    /// <summary>
    /// One unshuffled pass over the eval split (null without data.eval). <paramref name="augment"/> false: the eval
    /// transform; true: the train augmentation, which is still the same every pass (seeded by position).
    /// </summary>
    public static ImageStreamOptions? EvalImages(this TaskContext ctx, bool twoViews = false, bool augment = false) =>
        ctx.Recipe.Data.Eval is null ? null
        : Options(ctx, ctx.Files.Eval ?? ctx.Files.Train, ctx.Files.Eval is null ? ctx.Recipe.Data.Train : ctx.Recipe.Data.Eval, ctx.Files.Eval is null ? "data.train" : "data.eval") with
        {
            HoldoutFraction = ctx.Holdout,
            HoldoutSide = ctx.Files.Eval is null,
            Shuffle = false,
            MaxEpochs = 1,
            Augment = augment,
            TwoViews = twoViews,
        };

    /// <summary>The train split's rows in file order, once, with the eval transform (the probe's fitting rows).</summary>
    public static ImageStreamOptions ProbeTrainImages(this TaskContext ctx) =>
        ctx.TrainImages(twoViews: false) with { Shuffle = false, MaxEpochs = 1, Augment = false };

    /// <summary>
    /// Weight decay for ViT tasks (MAE's rule): matrices yes; biases, norms, the class token, position tables and the
    /// mask token no.
    /// </summary>
    public static bool Decays(string name, TorchSharp.Modules.Parameter parameter) =>
        parameter.dim() >= 2 && !name.EndsWith("cls_token", StringComparison.Ordinal)
        && !name.EndsWith("pos_embed", StringComparison.Ordinal) && !name.EndsWith("mask_token", StringComparison.Ordinal);

    /// <summary>Trainable parameter count of a module.</summary>
    public static long ParameterCount(TorchSharp.torch.nn.Module module) => module.parameters().Sum(p => p.numel());

    /// <summary>Stacks the samples' first (or second) views: (B, C, H, W) on <paramref name="device"/>.</summary>
    public static Tensor Collate(IReadOnlyList<ImageSample> samples, Device device, bool secondView = false)
    {
        var s0 = samples[0];
        int size = s0.Channels * s0.Height * s0.Width;
        var data = new float[samples.Count * size];
        for (int i = 0; i < samples.Count; i++)
            Array.Copy(secondView ? samples[i].SecondView! : samples[i].Pixels, 0, data, i * size, size);
        return tensor(data, [samples.Count, s0.Channels, s0.Height, s0.Width]).to(device);
    }

    private static ImageStreamOptions Options(TaskContext ctx, IReadOnlyList<string> files, DataSplit split, string key) => new()
    {
        Files = files,
        ImageColumn = split.ImageColumn,
        LabelColumn = split.LabelColumn,
        Seed = ctx.Recipe.Train.Seed,
        Prefetch = Math.Max(ctx.Recipe.Data.Prefetch, 2 * ctx.Recipe.Train.MicroBatchSize),
        Transform = Transform(ctx.Recipe),
        ConfigKey = key,
        BadData = ctx.BadData,
        Timeout = ctx.DataTimeout,
    };
}
