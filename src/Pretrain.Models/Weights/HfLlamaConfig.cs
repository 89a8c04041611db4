using System.Text.Json.Nodes;
using Pretrain.Models.Text;
using static Pretrain.Models.Weights.HfJson;

namespace Pretrain.Models.Weights;

/// <summary>
/// config.json ↔ <see cref="DecoderLmConfig"/> for the llama family: LlamaConfig (with Llama 3 rope scaling),
/// Qwen2Config (q/k/v biases), Qwen3Config (q/k norms, head_dim), MistralConfig (sliding_window) and Phi3Config.
/// A setting a model_type has that Pretrain does not implement is a <see cref="WeightsException"/> naming the key.
/// </summary>
internal static class HfLlamaConfig
{
    /// <summary>The model_type values read here.</summary>
    public static readonly string[] Types = ["llama", "qwen2", "qwen3", "mistral", "phi3"];

    public static JsonObject ToJson(DecoderLmConfig c)
    {
        var type = c.Layout ?? "llama";
        var json = new JsonObject
        {
            ["model_type"] = type,
            ["architectures"] = new JsonArray(type switch
            {
                "qwen2" => "Qwen2ForCausalLM",
                "qwen3" => "Qwen3ForCausalLM",
                "mistral" => "MistralForCausalLM",
                "phi3" => "Phi3ForCausalLM",
                _ => "LlamaForCausalLM",
            }),
            ["vocab_size"] = c.VocabSize,
            ["hidden_size"] = c.EmbedDim,
            ["intermediate_size"] = c.MlpDim,
            ["num_hidden_layers"] = c.NumLayers,
            ["num_attention_heads"] = c.NumHeads,
            ["num_key_value_heads"] = c.KvHeads,
            ["head_dim"] = c.HeadDim,
            ["hidden_act"] = "silu",
            ["max_position_embeddings"] = c.MaxSeqLen,
            ["rms_norm_eps"] = c.NormEps,
            ["rope_theta"] = c.RopeTheta,
            ["rope_scaling"] = RopeScalingJson(c.RopeScaling),
            ["attention_dropout"] = c.Dropout,
            ["initializer_range"] = 0.02,
            ["tie_word_embeddings"] = c.TieEmbeddings,
        };
        switch (type)
        {
            case "llama":
                json["attention_bias"] = c.UseBias;
                json["mlp_bias"] = c.UseBias;
                break;
            case "qwen2" or "qwen3":
                if (type == "qwen3")
                    json["attention_bias"] = c.UseBias;
                json["use_sliding_window"] = false;
                json["sliding_window"] = null;
                json["max_window_layers"] = c.NumLayers;
                break;
            default: // mistral, phi3
                json["sliding_window"] = c.SlidingWindow;
                break;
        }
        return json;
    }

    public static DecoderLmConfig FromJson(JsonObject json, JsonObject? ours, string type)
    {
        var act = Str(json, "hidden_act") ?? "silu";
        if (act != "silu")
            throw new WeightsException($"config.json hidden_act '{act}' is not supported for {type} (silu).");
        var bias = type switch
        {
            "llama" => LlamaBias(json),
            "qwen3" when Bool(json, "attention_bias") == true =>
                throw new WeightsException("config.json attention_bias = true for qwen3 puts biases on q/k/v/o but not the MLP; Pretrain cannot build that model."),
            _ => false, // Qwen2's q/k/v biases are QkvBias; Mistral, Phi-3 and Qwen3 have none
        };
        if (type is "qwen2" or "qwen3" && Bool(json, "use_sliding_window") == true)
            throw new WeightsException($"config.json use_sliding_window = true ({type}: a window on some layers only) is not implemented; set it to false.");
        if (type == "phi3" && Num(json, "partial_rotary_factor") is double partial && partial != 1)
            throw new WeightsException($"config.json partial_rotary_factor ({partial}) is not implemented: Pretrain rotates whole heads (1.0).");
        var embed = Int(json, "hidden_size", type);
        var heads = Int(json, "num_attention_heads", type);
        // Qwen3Config defaults head_dim to 128; the others to hidden_size / num_attention_heads.
        var headDim = OptInt(json, "head_dim") ?? (type == "qwen3" ? 128 : null);
        var kv = OptInt(json, "num_key_value_heads") ?? heads;
        var mlp = Int(json, "intermediate_size", type);
        var config = new DecoderLmConfig
        {
            Arch = "llama",
            Layout = type == "llama" ? null : type,
            VocabSize = Int(json, "vocab_size", type),
            MaxSeqLen = OptInt(json, "max_position_embeddings") ?? 2048,
            EmbedDim = embed,
            NumLayers = Int(json, "num_hidden_layers", type),
            NumHeads = heads,
            HeadSize = headDim is int h && h * heads != embed ? h : null,
            NormEps = Num(json, "rms_norm_eps") ?? 1e-6,
            RopeTheta = Num(json, "rope_theta") ?? 10000,
            RopeScaling = ReadRopeScaling(json, type),
            QkvBias = type == "qwen2" ? true : null,
            QkNorm = type == "qwen3",
            SlidingWindow = type is "mistral" or "phi3" ? OptInt(json, "sliding_window") : null,
            TieEmbeddings = Bool(json, "tie_word_embeddings") ?? false,
            Dropout = Num(ours, "dropout") ?? Num(json, "attention_dropout") ?? 0,
        };
        // Keep a value implicit (null) only where the saved config had it so and the default still gives it.
        var keepKv = ours is not null && ours["num_kv_heads"] is null && kv == heads;
        var keepBias = ours is not null && ours["bias"] is null && !bias;
        config = config with
        {
            NumKvHeads = keepKv ? null : kv,
            Bias = keepBias ? null : bias,
        };
        var keepMlp = ours is not null && ours["mlp_hidden_dim"] is null && (config with { MlpHiddenDim = null }).MlpDim == mlp;
        return config with { MlpHiddenDim = keepMlp ? null : mlp };
    }

    private static bool LlamaBias(JsonObject json)
    {
        var attentionBias = Bool(json, "attention_bias") ?? false;
        if ((Bool(json, "mlp_bias") ?? false) != attentionBias)
            throw new WeightsException("config.json attention_bias and mlp_bias differ; Pretrain has one bias setting (model.bias).");
        return attentionBias;
    }

    /// <summary>rope_scaling: absent/null or rope_type default → none; linear and llama3 read; anything else refused.</summary>
    private static RopeScaling? ReadRopeScaling(JsonObject json, string type)
    {
        var node = json["rope_scaling"];
        if (node is null)
            return null;
        if (node is not JsonObject rs)
            throw new WeightsException($"config.json rope_scaling is {node.ToJsonString()}, not an object or null.");
        var ropeType = Str(rs, "rope_type") ?? Str(rs, "type")
            ?? throw new WeightsException("config.json rope_scaling has no rope_type; expected default, linear or llama3.");
        double Need(string key) => Num(rs, key)
            ?? throw new WeightsException($"config.json rope_scaling (rope_type {ropeType}) has no '{key}'.");
        return ropeType switch
        {
            "default" => null,
            "linear" => new RopeScaling { Type = "linear", Factor = Need("factor") },
            "llama3" => new RopeScaling
            {
                Type = "llama3",
                Factor = Need("factor"),
                LowFreqFactor = Need("low_freq_factor"),
                HighFreqFactor = Need("high_freq_factor"),
                OriginalMaxPositions = OptInt(rs, "original_max_position_embeddings")
                    ?? throw new WeightsException("config.json rope_scaling (rope_type llama3) has no 'original_max_position_embeddings'."),
            },
            "longrope" or "su" => throw new WeightsException(
                $"config.json rope_scaling.rope_type '{ropeType}' ({type}: LongRoPE, per-frequency factors for the long-context variants) is not implemented; use a checkpoint without rope_scaling (Phi-3's 4k-context models) or another model."),
            _ => throw new WeightsException(
                $"config.json rope_scaling.rope_type '{ropeType}' is not implemented; Pretrain reads default, linear and llama3."),
        };
    }

    private static JsonNode? RopeScalingJson(RopeScaling? s) => s switch
    {
        null => null,
        { Type: "linear" } => new JsonObject { ["rope_type"] = "linear", ["factor"] = s.Factor },
        _ => new JsonObject
        {
            ["rope_type"] = s.Type,
            ["factor"] = s.Factor,
            ["low_freq_factor"] = s.LowFreqFactor,
            ["high_freq_factor"] = s.HighFreqFactor,
            ["original_max_position_embeddings"] = s.OriginalMaxPositions,
        },
    };
}
