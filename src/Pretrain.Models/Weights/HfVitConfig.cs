using System.Text.Json.Nodes;
using Pretrain.Models.Vision;
using static Pretrain.Models.Weights.HfJson;

namespace Pretrain.Models.Weights;

/// <summary>
/// <see cref="VitConfig"/> (+ <see cref="MaeDecoderConfig"/>) ↔ Hugging Face ViTConfig. The Hugging Face keys are
/// authoritative; a "pretrain" object keeps what HF lacks (class_token, global_pool, pos_embed, the decoder) and
/// which values were left to defaults, so a round trip gives back equal records.
/// </summary>
internal static class HfVitConfig
{
    public const string Vit = "vit";
    public const string PretrainVit = "pretrain-vit";
    public const string PretrainMae = "pretrain-mae";

    public static JsonObject ToJson(VitConfig c, MaeDecoderConfig? decoder, int? numLabels)
    {
        c.Validate();
        decoder?.Validate();
        var twin = c.ClassToken && c.GlobalPool == "cls" && c.PosEmbed == "learned";
        var json = new JsonObject
        {
            ["model_type"] = decoder is not null ? PretrainMae : twin ? Vit : PretrainVit,
            ["architectures"] = new JsonArray(numLabels is null ? "ViTModel" : "ViTForImageClassification"),
            ["hidden_size"] = c.EmbedDim,
            ["num_hidden_layers"] = c.NumLayers,
            ["num_attention_heads"] = c.NumHeads,
            ["intermediate_size"] = c.MlpDim,
            ["hidden_act"] = "gelu",
            ["hidden_dropout_prob"] = c.Dropout,
            ["attention_probs_dropout_prob"] = c.AttentionDropout,
            ["image_size"] = c.ImageSize,
            ["patch_size"] = c.PatchSize,
            ["num_channels"] = c.NumChannels,
            ["qkv_bias"] = c.QkvBias,
            ["layer_norm_eps"] = c.NormEps,
            ["initializer_range"] = 0.02,
        };
        if (numLabels is int n)
            json["num_labels"] = n;
        var ours = new JsonObject
        {
            ["class_token"] = c.ClassToken,
            ["global_pool"] = c.GlobalPool,
            ["pos_embed"] = c.PosEmbed,
            ["mlp_hidden_dim"] = c.MlpHiddenDim,
        };
        if (decoder is not null)
        {
            ours["decoder"] = new JsonObject
            {
                ["embed_dim"] = decoder.EmbedDim,
                ["num_layers"] = decoder.NumLayers,
                ["num_heads"] = decoder.NumHeads,
                ["mlp_hidden_dim"] = decoder.MlpHiddenDim,
                ["norm_eps"] = decoder.NormEps,
            };
        }
        json["pretrain"] = ours;
        return json;
    }

    public static VitConfig FromJson(JsonObject json)
    {
        var type = Type(json);
        var act = Str(json, "hidden_act") ?? "gelu";
        if (act != "gelu")
            throw new WeightsException($"config.json hidden_act '{act}' is not supported; Pretrain's ViT uses the erf GELU (gelu).");
        var ours = json["pretrain"] as JsonObject;
        var embed = Int(json, "hidden_size", type);
        var mlp = OptInt(json, "intermediate_size") ?? 4 * embed;
        var config = new VitConfig
        {
            ImageSize = OptInt(json, "image_size") ?? 224,
            PatchSize = OptInt(json, "patch_size") ?? 16,
            NumChannels = OptInt(json, "num_channels") ?? 3,
            EmbedDim = embed,
            NumLayers = Int(json, "num_hidden_layers", type),
            NumHeads = Int(json, "num_attention_heads", type),
            MlpHiddenDim = ours is not null && ours["mlp_hidden_dim"] is null && mlp == 4 * embed ? null : mlp,
            QkvBias = Bool(json, "qkv_bias") ?? true,
            NormEps = Num(json, "layer_norm_eps") ?? 1e-12,
            Dropout = Num(json, "hidden_dropout_prob") ?? 0,
            AttentionDropout = Num(json, "attention_probs_dropout_prob") ?? 0,
            ClassToken = Bool(ours, "class_token") ?? true,
            GlobalPool = Str(ours, "global_pool") ?? "cls",
            PosEmbed = Str(ours, "pos_embed") ?? "learned",
        };
        if (type == Vit && !(config.ClassToken && config.GlobalPool == "cls" && config.PosEmbed == "learned"))
            throw new WeightsException("config.json: model_type vit has a learned class token and positions; other pretrain settings need model_type pretrain-vit.");
        return Valid(config, c => c.Validate());
    }

    public static MaeDecoderConfig? DecoderFromJson(JsonObject json)
    {
        var type = Type(json);
        if (type != PretrainMae)
            return null;
        var d = (json["pretrain"] as JsonObject)?["decoder"] as JsonObject
            ?? throw new WeightsException("config.json: model_type pretrain-mae needs pretrain.decoder.");
        var config = new MaeDecoderConfig
        {
            EmbedDim = Int(d, "embed_dim", type),
            NumLayers = Int(d, "num_layers", type),
            NumHeads = Int(d, "num_heads", type),
            MlpHiddenDim = OptInt(d, "mlp_hidden_dim"),
            NormEps = Num(d, "norm_eps"),
        };
        return Valid(config, c => c.Validate());
    }

    private static string Type(JsonObject json)
    {
        var type = Str(json, "model_type") ?? throw new WeightsException("config.json has no model_type; expected vit.");
        return type is Vit or PretrainVit or PretrainMae ? type
            : throw new WeightsException($"config.json model_type '{type}' is not a ViT Pretrain can load ({Vit}, {PretrainVit}, {PretrainMae}).");
    }

    private static T Valid<T>(T config, Action<T> validate)
    {
        try
        {
            validate(config);
        }
        catch (ArgumentException e)
        {
            throw new WeightsException($"config.json describes a model Pretrain cannot build: {e.Message}", e);
        }
        return config;
    }
}
