using System.Text.Json.Nodes;
using Pretrain.Models.Heads;
using Pretrain.Models.Text;
using static TorchSharp.torch;

namespace Pretrain.Models.Weights;

/// <summary>
/// Converts an <see cref="EncoderLm"/> (with an optional <see cref="MlmHead"/> and <see cref="ClassifierHead"/>) to
/// and from the tensor names and config.json of Hugging Face's BERT (BertModel, BertForMaskedLM,
/// BertForSequenceClassification), so a checkpoint we write loads there and theirs loads here.
/// </summary>
public static class HfEncoderLayout
{
    /// <summary>
    /// The weights under Hugging Face names: the backbone under <c>bert.</c> when <paramref name="taskPrefix"/>
    /// (a task model, the default) or bare (BertModel, sentence-transformers); <c>cls.predictions.*</c> and
    /// <c>classifier.*</c> beside it. The tied MLM decoder is left out, as Hugging Face saves it. The tensors are
    /// detached views sharing storage with the model.
    /// </summary>
    public static Dictionary<string, Tensor> ToHf(EncoderLm model, MlmHead? mlmHead = null, ClassifierHead? classifier = null, bool taskPrefix = true)
    {
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var e in HfEncoderKeyMap.Entries(model, mlmHead, classifier))
        {
            var name = taskPrefix && HfEncoderKeyMap.IsBackbone(e.HfName) ? HfEncoderKeyMap.Prefix + e.HfName : e.HfName;
            result[name] = e.Target.detach();
        }
        return result;
    }

    /// <summary>
    /// Loads BERT-named weights, with or without the <c>bert.</c> prefix (and legacy gamma/beta LayerNorm names).
    /// Everything is checked first: missing or unexpected tensors and shape mismatches are reported together in one
    /// <see cref="WeightsException"/> and nothing is loaded. Left out on purpose, and returned: weights of heads not
    /// given (<c>cls.*</c>, <c>classifier.*</c>, a pooler the model lacks), the NSP head, the tied decoder copy and
    /// the <c>position_ids</c> buffer — so a backbone loads from any BERT task checkpoint.
    /// </summary>
    /// <returns>The checkpoint names that were skipped, sorted.</returns>
    public static IReadOnlyList<string> LoadHf(EncoderLm model, IReadOnlyDictionary<string, Tensor> hf,
        MlmHead? mlmHead = null, ClassifierHead? classifier = null)
    {
        var problems = new List<string>();
        var renamed = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, tensor) in hf)
        {
            if (!renamed.TryAdd(HfEncoderKeyMap.RenameLegacy(name), tensor))
                problems.Add($"'{name}' is given under both its gamma/beta and its weight/bias name");
        }
        var byName = HfEncoderLoader.StripPrefix(renamed, HfEncoderKeyMap.Prefix, problems);
        if (mlmHead is not null && byName.TryGetValue("cls.predictions.decoder.weight", out var decoder)
            && byName.TryGetValue("embeddings.word_embeddings.weight", out var words) && !HfEncoderLoader.Close(decoder, words))
            problems.Add("'cls.predictions.decoder.weight' differs from the word embeddings, but MlmHead ties them");

        var entries = HfEncoderKeyMap.Entries(model, mlmHead, classifier);
        bool Skip(string n) =>
            n is "embeddings.position_ids" or "cls.predictions.decoder.weight" or "cls.predictions.decoder.bias"
            || n.StartsWith("cls.seq_relationship.", StringComparison.Ordinal)
            || (mlmHead is null && n.StartsWith("cls.", StringComparison.Ordinal))
            || (classifier is null && n.StartsWith("classifier.", StringComparison.Ordinal))
            || (!model.Config.Pooler && n.StartsWith("pooler.", StringComparison.Ordinal));
        var c = model.Config;
        return HfEncoderLoader.Load("BERT", entries, byName, Skip, problems,
            $"The model has {c.NumLayers} layers, width {c.EmbedDim}, vocab {c.VocabSize}, {(c.PostNorm ? "post" : "pre")}-LN" +
            $"{(c.Pooler ? ", a pooler" : "")}; check that config.json matches the weights file.");
    }

    /// <summary>
    /// The Hugging Face config.json: model_type bert (post-LN), pretrain-bert-preln (pre-LN: no Hugging Face twin) or
    /// pretrain-bert (no segment embedding); settings HF lacks go under a "pretrain" key.
    /// </summary>
    /// <param name="config">The model configuration.</param>
    /// <param name="numLabels">Classes of a sequence-classification head; null for a masked LM.</param>
    public static JsonObject ConfigJson(EncoderLmConfig config, int? numLabels = null) => HfEncoderConfig.ToJson(config, numLabels);

    /// <summary>The model configuration described by a BERT config.json (bert, pretrain-bert, pretrain-bert-preln).</summary>
    public static EncoderLmConfig ConfigFromJson(JsonObject json) => HfEncoderConfig.FromJson(json);
}
