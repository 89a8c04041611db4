using System.Text.RegularExpressions;
using Pretrain.Models.Heads;
using Pretrain.Models.Peft;
using Pretrain.Models.Text;
using static TorchSharp.torch;

namespace Pretrain.Models.Weights;

/// <summary>
/// The explicit key map between <see cref="EncoderLm"/> (+ <see cref="MlmHead"/>, <see cref="ClassifierHead"/>)
/// parameter names and Hugging Face's BERT layout. Backbone names are given without the <c>bert.</c> prefix; the
/// heads' <c>cls.predictions.*</c> and <c>classifier.*</c> sit beside it.
/// </summary>
internal static partial class HfEncoderKeyMap
{
    public const string Prefix = "bert.";

    public static List<HfEntry> Entries(EncoderLm model, MlmHead? mlmHead, ClassifierHead? classifier)
    {
        var entries = new List<HfEntry>();
        // LoRA matrices are not part of the Hugging Face model: they go to the PEFT adapter file.
        foreach (var (name, p) in model.named_parameters().Where(p => !LoraLinear.IsAdapterParameter(p.name)))
            entries.Add(new HfEntry(Backbone(name), name, p));
        if (mlmHead is not null)
        {
            foreach (var (name, p) in mlmHead.named_parameters())
                entries.Add(new HfEntry(name == "bias" ? "cls.predictions.bias" : "cls.predictions.transform." + Head(name), name, p));
        }
        if (classifier is not null)
        {
            foreach (var (name, p) in classifier.named_parameters())
                entries.Add(new HfEntry("classifier." + name[(name.IndexOf('.') + 1)..], name, p));
        }
        return entries;
    }

    /// <summary>Whether a backbone name (prefix removed) belongs under <c>bert.</c> in a task model.</summary>
    public static bool IsBackbone(string hfName) =>
        !hfName.StartsWith("cls.", StringComparison.Ordinal) && !hfName.StartsWith("classifier.", StringComparison.Ordinal);

    /// <summary>Old checkpoints name LayerNorm parameters gamma/beta (TensorFlow); Hugging Face renames them on load.</summary>
    public static string RenameLegacy(string hfName) =>
        hfName.EndsWith(".gamma", StringComparison.Ordinal) ? hfName[..^6] + ".weight"
        : hfName.EndsWith(".beta", StringComparison.Ordinal) ? hfName[..^5] + ".bias"
        : hfName;

    private static string Backbone(string ours)
    {
        var block = BlockRegex().Match(ours);
        if (!block.Success)
        {
            return ours switch
            {
                "tok_embed.weight" => "embeddings.word_embeddings.weight",
                "pos_embed.weight" => "embeddings.position_embeddings.weight",
                "type_embed.weight" => "embeddings.token_type_embeddings.weight",
                _ when ours.StartsWith("embed_norm.", StringComparison.Ordinal) => "embeddings.LayerNorm." + ours[11..],
                _ when ours.StartsWith("norm.", StringComparison.Ordinal) => "encoder.ln." + ours[5..], // pre-LN only, as MegatronBert
                _ when ours.StartsWith("pooler.", StringComparison.Ordinal) => "pooler.dense." + ours[7..],
                _ => throw Unknown(ours),
            };
        }
        var (layer, module, kind) = (block.Groups[1].Value, block.Groups[2].Value, block.Groups[3].Value);
        var hf = module switch
        {
            "attn.q_proj" => "attention.self.query",
            "attn.k_proj" => "attention.self.key",
            "attn.v_proj" => "attention.self.value",
            "attn.o_proj" => "attention.output.dense",
            "norm1" => "attention.output.LayerNorm",
            "mlp.up_proj" => "intermediate.dense",
            "mlp.down_proj" => "output.dense",
            "norm2" => "output.LayerNorm",
            _ => throw Unknown(ours),
        };
        return $"encoder.layer.{layer}.{hf}.{kind}";
    }

    private static string Head(string ours) => ours.StartsWith("norm.", StringComparison.Ordinal) ? "LayerNorm." + ours[5..] : ours;

    private static InvalidOperationException Unknown(string ours) =>
        new($"No Hugging Face name is defined for EncoderLm parameter '{ours}'.");

    [GeneratedRegex(@"^blocks\.(\d+)\.(.+)\.(weight|bias)$")]
    private static partial Regex BlockRegex();
}
