using System.Text.RegularExpressions;
using Pretrain.Models.Heads;
using Pretrain.Models.Peft;
using Pretrain.Models.Vision;

namespace Pretrain.Models.Weights;

/// <summary>
/// The explicit key map between <see cref="VisionTransformer"/> (+ <see cref="ClassifierHead"/>,
/// <see cref="MaeDecoder"/>) tensor names and Hugging Face's ViT layout. Backbone names are given without the
/// <c>vit.</c> prefix; <c>classifier.*</c> and the MAE decoder's <c>decoder.&lt;our name&gt;</c> sit beside it.
/// </summary>
internal static partial class HfVitKeyMap
{
    public const string Prefix = "vit.";
    public const string PositionsName = "embeddings.position_embeddings";

    public static List<HfEntry> Entries(VisionTransformer model, ClassifierHead? classifier, MaeDecoder? decoder)
    {
        var sincos = model.Config.PosEmbed == "sincos";
        var entries = new List<HfEntry>();
        // LoRA matrices are not part of the Hugging Face model: they go to the PEFT adapter file.
        foreach (var (name, p) in model.named_parameters().Where(p => !LoraLinear.IsAdapterParameter(p.name)))
            entries.Add(new HfEntry(Backbone(name), name, p));
        foreach (var (name, b) in model.named_buffers())
            entries.Add(new HfEntry(Backbone(name), name, b, Fixed: sincos && name == "pos_embed"));
        if (classifier is not null)
        {
            foreach (var (name, p) in classifier.named_parameters())
                entries.Add(new HfEntry("classifier." + name[(name.IndexOf('.') + 1)..], name, p));
        }
        if (decoder is not null)
        {
            foreach (var (name, p) in decoder.named_parameters())
                entries.Add(new HfEntry("decoder." + name, "decoder." + name, p));
            foreach (var (name, b) in decoder.named_buffers())
                entries.Add(new HfEntry("decoder." + name, "decoder." + name, b, Fixed: name == "pos_embed"));
        }
        return entries;
    }

    /// <summary>Whether a name (prefix removed) belongs under <c>vit.</c> in a task model.</summary>
    public static bool IsBackbone(string hfName) =>
        !hfName.StartsWith("classifier.", StringComparison.Ordinal) && !hfName.StartsWith("decoder.", StringComparison.Ordinal);

    private static string Backbone(string ours)
    {
        var block = BlockRegex().Match(ours);
        if (!block.Success)
        {
            return ours switch
            {
                "cls_token" => "embeddings.cls_token",
                "pos_embed" => PositionsName,
                _ when ours.StartsWith("patch_embed.", StringComparison.Ordinal) => "embeddings.patch_embeddings.projection." + ours[12..],
                _ when ours.StartsWith("norm.", StringComparison.Ordinal) => "layernorm." + ours[5..],
                _ => throw new InvalidOperationException($"No Hugging Face name is defined for VisionTransformer tensor '{ours}'."),
            };
        }
        var (layer, module, kind) = (block.Groups[1].Value, block.Groups[2].Value, block.Groups[3].Value);
        var hf = module switch
        {
            "norm1" => "layernorm_before",
            "attn.q_proj" => "attention.attention.query",
            "attn.k_proj" => "attention.attention.key",
            "attn.v_proj" => "attention.attention.value",
            "attn.o_proj" => "attention.output.dense",
            "norm2" => "layernorm_after",
            "mlp.up_proj" => "intermediate.dense",
            "mlp.down_proj" => "output.dense",
            _ => throw new InvalidOperationException($"No Hugging Face name is defined for VisionTransformer tensor '{ours}'."),
        };
        return $"encoder.layer.{layer}.{hf}.{kind}";
    }

    [GeneratedRegex(@"^blocks\.(\d+)\.(.+)\.(weight|bias)$")]
    private static partial Regex BlockRegex();
}
