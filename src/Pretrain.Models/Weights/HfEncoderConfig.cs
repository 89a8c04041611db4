using System.Text.Json.Nodes;
using Pretrain.Models.Text;
using static Pretrain.Models.Weights.HfJson;

namespace Pretrain.Models.Weights;

/// <summary>
/// <see cref="EncoderLmConfig"/> ↔ Hugging Face BertConfig. The Hugging Face keys are authoritative; a "pretrain"
/// object keeps what HF lacks (post_norm, pooler) and which values were left to defaults, so a round trip gives back
/// an equal record.
/// </summary>
internal static class HfEncoderConfig
{
    public const string Bert = "bert";
    public const string BertPreLn = "pretrain-bert-preln";
    public const string BertNoTypes = "pretrain-bert";

    public static JsonObject ToJson(EncoderLmConfig c, int? numLabels)
    {
        c.Validate();
        var json = new JsonObject
        {
            ["model_type"] = !c.PostNorm ? BertPreLn : c.TypeVocabSize == 0 ? BertNoTypes : Bert,
            ["architectures"] = new JsonArray(numLabels is null ? "BertForMaskedLM" : "BertForSequenceClassification"),
            ["vocab_size"] = c.VocabSize,
            ["hidden_size"] = c.EmbedDim,
            ["num_hidden_layers"] = c.NumLayers,
            ["num_attention_heads"] = c.NumHeads,
            ["intermediate_size"] = c.MlpDim,
            ["hidden_act"] = "gelu",
            ["hidden_dropout_prob"] = c.Dropout,
            ["attention_probs_dropout_prob"] = c.AttentionDropout,
            ["max_position_embeddings"] = c.MaxSeqLen,
            ["type_vocab_size"] = c.TypeVocabSize,
            ["layer_norm_eps"] = c.NormEps,
            ["position_embedding_type"] = "absolute",
            ["initializer_range"] = 0.02,
        };
        if (numLabels is int n)
            json["num_labels"] = n;
        json["pretrain"] = new JsonObject
        {
            ["post_norm"] = c.PostNorm,
            ["pooler"] = c.Pooler,
            ["mlp_hidden_dim"] = c.MlpHiddenDim,
        };
        return json;
    }

    public static EncoderLmConfig FromJson(JsonObject json)
    {
        var type = Str(json, "model_type") ?? throw new WeightsException("config.json has no model_type; expected bert.");
        if (type is not (Bert or BertPreLn or BertNoTypes))
            throw new WeightsException($"config.json model_type '{type}' is not a BERT encoder Pretrain can load ({Bert}, {BertPreLn}, {BertNoTypes}).");
        var act = Str(json, "hidden_act") ?? "gelu";
        if (act != "gelu")
            throw new WeightsException($"config.json hidden_act '{act}' is not supported; Pretrain's encoder uses the erf GELU (gelu).");
        var positions = Str(json, "position_embedding_type") ?? "absolute";
        if (positions != "absolute")
            throw new WeightsException($"config.json position_embedding_type '{positions}' is not supported (absolute).");
        var ours = json["pretrain"] as JsonObject;
        var embed = Int(json, "hidden_size", type);
        var mlp = OptInt(json, "intermediate_size") ?? 4 * embed;
        var config = new EncoderLmConfig
        {
            VocabSize = Int(json, "vocab_size", type),
            MaxSeqLen = OptInt(json, "max_position_embeddings") ?? 512,
            TypeVocabSize = OptInt(json, "type_vocab_size") ?? 2,
            EmbedDim = embed,
            NumLayers = Int(json, "num_hidden_layers", type),
            NumHeads = Int(json, "num_attention_heads", type),
            // Keep the width implicit only where the saved config had it so and the default still gives it.
            MlpHiddenDim = ours is not null && ours["mlp_hidden_dim"] is null && mlp == 4 * embed ? null : mlp,
            Dropout = Num(json, "hidden_dropout_prob") ?? 0.1,
            AttentionDropout = Num(json, "attention_probs_dropout_prob") ?? 0.1,
            NormEps = Num(json, "layer_norm_eps") ?? 1e-12,
            PostNorm = type != BertPreLn,
            Pooler = Bool(ours, "pooler") ?? false,
        };
        if (Bool(ours, "post_norm") is bool post && post != config.PostNorm)
            throw new WeightsException($"config.json: pretrain.post_norm = {post.ToString().ToLowerInvariant()} contradicts model_type '{type}'.");
        if (type != BertPreLn && (type == BertNoTypes) != (config.TypeVocabSize == 0))
            throw new WeightsException($"config.json: type_vocab_size {config.TypeVocabSize} does not fit model_type '{type}' ({BertNoTypes} is BERT without segment embeddings).");
        try
        {
            config.Validate();
        }
        catch (ArgumentException e)
        {
            throw new WeightsException($"config.json describes a model Pretrain cannot build: {e.Message}", e);
        }
        return config;
    }
}
