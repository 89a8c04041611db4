using System.Text.Json.Nodes;
using Pretrain.Models.Heads;
using Pretrain.Models.Vision;
using static TorchSharp.torch;

namespace Pretrain.Models.Weights;

/// <summary>
/// Converts a <see cref="VisionTransformer"/> (with an optional <see cref="ClassifierHead"/> or MAE
/// <see cref="MaeDecoder"/>) to and from Hugging Face's ViT tensor names (ViTModel, ViTForImageClassification) and
/// config.json. Options without a Hugging Face twin use model_type pretrain-vit; with a decoder, pretrain-mae
/// (decoder tensors under <c>decoder.</c> + our names).
/// </summary>
public static class HfVitLayout
{
    /// <summary>
    /// The weights under Hugging Face names: the backbone under <c>vit.</c> when <paramref name="taskPrefix"/>
    /// (the default) or bare (ViTModel); <c>classifier.*</c> and <c>decoder.*</c> beside it. A sin-cos table is
    /// written as <c>embeddings.position_embeddings</c> too, so the file runs as a plain ViT. Detached views.
    /// </summary>
    public static Dictionary<string, Tensor> ToHf(VisionTransformer model, ClassifierHead? classifier = null,
        MaeDecoder? decoder = null, bool taskPrefix = true)
    {
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var e in HfVitKeyMap.Entries(model, classifier, decoder))
        {
            var name = taskPrefix && HfVitKeyMap.IsBackbone(e.HfName) ? HfVitKeyMap.Prefix + e.HfName : e.HfName;
            result[name] = e.Target.detach();
        }
        return result;
    }

    /// <summary>
    /// Loads ViT-named weights, with or without the <c>vit.</c> prefix. Everything is checked first: missing,
    /// unexpected or mis-shaped tensors are reported together in one <see cref="WeightsException"/> and nothing is
    /// loaded. A fixed sin-cos table in the file must equal the model's. Left out on purpose, and returned: the
    /// pooler of ViTModel and the weights of heads not given (<c>classifier.*</c>, <c>decoder.*</c>).
    /// </summary>
    /// <param name="model">The backbone to fill.</param>
    /// <param name="hf">Tensors by Hugging Face name.</param>
    /// <param name="classifier">A classification head to fill from <c>classifier.*</c>.</param>
    /// <param name="decoder">An MAE decoder to fill from <c>decoder.*</c>.</param>
    /// <param name="resizePositions">When the file's position table is for another patch grid, resize it
    /// bicubically (<see cref="VisionTransformer.InterpolatePositions"/>) instead of reporting a mismatch; a fixed
    /// sin-cos table is then not compared, the model's own is kept.</param>
    /// <returns>The checkpoint names that were skipped, sorted.</returns>
    public static IReadOnlyList<string> LoadHf(VisionTransformer model, IReadOnlyDictionary<string, Tensor> hf,
        ClassifierHead? classifier = null, MaeDecoder? decoder = null, bool resizePositions = false)
    {
        var problems = new List<string>();
        var byName = HfEncoderLoader.StripPrefix(hf, HfVitKeyMap.Prefix, problems);
        var entries = HfVitKeyMap.Entries(model, classifier, decoder);
        var c = model.Config;
        var positions = entries.Single(e => e.HfName == HfVitKeyMap.PositionsName);
        using var scope = NewDisposeScope();
        if (resizePositions && byName.TryGetValue(HfVitKeyMap.PositionsName, out var table) && table.dim() == 3
            && table.shape[2] == c.EmbedDim && table.shape[1] != positions.Target.shape[1])
        {
            if (positions.Fixed)
                byName.Remove(HfVitKeyMap.PositionsName);
            else
                byName[HfVitKeyMap.PositionsName] = VisionTransformer.InterpolatePositions(table, c.ClassToken, c.GridSize);
        }
        bool Skip(string n) =>
            n.StartsWith("pooler.", StringComparison.Ordinal)
            || (classifier is null && n.StartsWith("classifier.", StringComparison.Ordinal))
            || (decoder is null && n.StartsWith("decoder.", StringComparison.Ordinal));
        var hint = $"The model has {c.NumLayers} layers, width {c.EmbedDim}, {c.ImageSize}px images in {c.PatchSize}px patches, " +
            $"{(c.ClassToken ? "a" : "no")} class token; check that config.json matches the weights file" +
            (resizePositions ? "." : ", or pass resizePositions: true to interpolate a position table made for another image size.");
        return HfEncoderLoader.Load("ViT", entries, byName, Skip, problems, hint);
    }

    /// <summary>
    /// The Hugging Face config.json: model_type vit when the model has a twin there (class token, cls pooling,
    /// learned positions), else pretrain-vit; pretrain-mae with a decoder. Our extras go under "pretrain".
    /// </summary>
    public static JsonObject ConfigJson(VitConfig config, MaeDecoderConfig? decoder = null, int? numLabels = null) =>
        HfVitConfig.ToJson(config, decoder, numLabels);

    /// <summary>The ViT configuration described by a config.json (vit, pretrain-vit, pretrain-mae).</summary>
    public static VitConfig ConfigFromJson(JsonObject json) => HfVitConfig.FromJson(json);

    /// <summary>The MAE decoder configuration of a pretrain-mae config.json; null for other model types.</summary>
    public static MaeDecoderConfig? DecoderConfigFromJson(JsonObject json) => HfVitConfig.DecoderFromJson(json);
}
