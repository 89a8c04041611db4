using System.Text.Json;
using System.Text.Json.Nodes;
using Pretrain.Models.Text;
using static Pretrain.Models.Weights.HfJson;

namespace Pretrain.Models.Weights;

/// <summary>
/// <see cref="DecoderLmConfig"/> ↔ Hugging Face config.json (GPT2Config, LlamaConfig). The Hugging Face keys are
/// authoritative; a "pretrain" object keeps what HF lacks (arch, bias, dropout) and which values were left to
/// defaults, so a round trip gives back an equal record.
/// </summary>
internal static class HfDecoderConfig
{
    public static JsonObject ToJson(DecoderLmConfig c, int? bos, int? eos)
    {
        c.Validate();
        JsonObject json;
        if (c.IsLlama)
        {
            json = new JsonObject
            {
                ["model_type"] = "llama",
                ["architectures"] = new JsonArray("LlamaForCausalLM"),
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
                ["rope_scaling"] = null,
                ["attention_bias"] = c.UseBias,
                ["mlp_bias"] = c.UseBias,
                ["attention_dropout"] = c.Dropout,
                ["initializer_range"] = 0.02,
                ["tie_word_embeddings"] = c.TieEmbeddings,
            };
        }
        else
        {
            json = new JsonObject
            {
                // GPT-2 without biases has no Hugging Face twin: same names, our own model_type.
                ["model_type"] = c.UseBias ? "gpt2" : "pretrain-gpt2",
                ["architectures"] = new JsonArray("GPT2LMHeadModel"),
                ["vocab_size"] = c.VocabSize,
                ["n_positions"] = c.MaxSeqLen,
                ["n_ctx"] = c.MaxSeqLen,
                ["n_embd"] = c.EmbedDim,
                ["n_layer"] = c.NumLayers,
                ["n_head"] = c.NumHeads,
                ["n_inner"] = c.MlpHiddenDim,
                ["activation_function"] = "gelu_new",
                ["layer_norm_epsilon"] = c.NormEps,
                ["resid_pdrop"] = c.Dropout,
                ["embd_pdrop"] = c.Dropout,
                ["attn_pdrop"] = c.Dropout,
                ["initializer_range"] = 0.02,
                ["tie_word_embeddings"] = c.TieEmbeddings,
            };
        }
        if (bos is int b)
            json["bos_token_id"] = b;
        if (eos is int e)
            json["eos_token_id"] = e;
        json["pretrain"] = new JsonObject
        {
            ["arch"] = c.Arch,
            ["bias"] = c.Bias,
            ["num_kv_heads"] = c.NumKvHeads,
            ["mlp_hidden_dim"] = c.MlpHiddenDim,
            ["dropout"] = c.Dropout,
        };
        return json;
    }

    public static DecoderLmConfig FromJson(JsonObject json)
    {
        var type = Str(json, "model_type") ?? throw new WeightsException("config.json has no model_type; expected gpt2 or llama.");
        var ours = json["pretrain"] as JsonObject;
        DecoderLmConfig config = type switch
        {
            "gpt2" or "pretrain-gpt2" => Gpt2(json, ours),
            "llama" => Llama(json, ours),
            _ => throw new WeightsException($"config.json model_type '{type}' is not a decoder LM Pretrain can load (gpt2, llama)."),
        };
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

    private static DecoderLmConfig Gpt2(JsonObject json, JsonObject? ours)
    {
        var act = Str(json, "activation_function") ?? "gelu_new";
        if (act is not ("gelu_new" or "gelu_pytorch_tanh"))
            throw new WeightsException($"config.json activation_function '{act}' is not supported for gpt2 (tanh GELU: gelu_new).");
        if (Bool(json, "scale_attn_by_inverse_layer_idx") == true)
            throw new WeightsException("config.json scale_attn_by_inverse_layer_idx = true is not supported.");
        var embed = Int(json, "n_embd", "gpt2");
        var config = new DecoderLmConfig
        {
            Arch = "gpt2",
            VocabSize = Int(json, "vocab_size", "gpt2"),
            MaxSeqLen = OptInt(json, "n_positions") ?? OptInt(json, "n_ctx") ?? 1024,
            EmbedDim = embed,
            NumLayers = Int(json, "n_layer", "gpt2"),
            NumHeads = Int(json, "n_head", "gpt2"),
            MlpHiddenDim = OptInt(json, "n_inner"),
            NormEps = Num(json, "layer_norm_epsilon") ?? 1e-5,
            TieEmbeddings = Bool(json, "tie_word_embeddings") ?? true,
            Dropout = Num(ours, "dropout") ?? Num(json, "resid_pdrop") ?? 0.1,
            Bias = ours is null ? null : Bool(ours, "bias"),
        };
        if (config.UseBias != (Str(json, "model_type") == "gpt2"))
            throw new WeightsException("config.json: model_type gpt2 has biases; pretrain.bias = false needs model_type pretrain-gpt2.");
        return config;
    }

    private static DecoderLmConfig Llama(JsonObject json, JsonObject? ours)
    {
        var act = Str(json, "hidden_act") ?? "silu";
        if (act != "silu")
            throw new WeightsException($"config.json hidden_act '{act}' is not supported for llama (silu).");
        if (json["rope_scaling"] is JsonObject)
            throw new WeightsException("config.json rope_scaling is set; Pretrain implements plain RoPE only. Remove rope_scaling or use another model.");
        var attentionBias = Bool(json, "attention_bias") ?? false;
        if ((Bool(json, "mlp_bias") ?? false) != attentionBias)
            throw new WeightsException("config.json attention_bias and mlp_bias differ; Pretrain has one bias setting (model.bias).");
        var embed = Int(json, "hidden_size", "llama");
        var heads = Int(json, "num_attention_heads", "llama");
        if (OptInt(json, "head_dim") is int headDim && headDim * heads != embed)
            throw new WeightsException($"config.json head_dim ({headDim}) × num_attention_heads ({heads}) differs from hidden_size ({embed}); Pretrain needs them equal.");
        var kv = OptInt(json, "num_key_value_heads") ?? heads;
        var mlp = Int(json, "intermediate_size", "llama");
        var config = new DecoderLmConfig
        {
            Arch = "llama",
            VocabSize = Int(json, "vocab_size", "llama"),
            MaxSeqLen = OptInt(json, "max_position_embeddings") ?? 2048,
            EmbedDim = embed,
            NumLayers = Int(json, "num_hidden_layers", "llama"),
            NumHeads = heads,
            NormEps = Num(json, "rms_norm_eps") ?? 1e-6,
            RopeTheta = Num(json, "rope_theta") ?? 10000,
            TieEmbeddings = Bool(json, "tie_word_embeddings") ?? false,
            Dropout = Num(ours, "dropout") ?? Num(json, "attention_dropout") ?? 0,
        };
        // Keep a value implicit (null) only where the saved config had it so and the default still gives it.
        var keepKv = ours is not null && ours["num_kv_heads"] is null && kv == heads;
        var keepBias = ours is not null && ours["bias"] is null && !attentionBias;
        config = config with
        {
            NumKvHeads = keepKv ? null : kv,
            Bias = keepBias ? null : attentionBias,
        };
        var keepMlp = ours is not null && ours["mlp_hidden_dim"] is null && (config with { MlpHiddenDim = null }).MlpDim == mlp;
        return config with { MlpHiddenDim = keepMlp ? null : mlp };
    }
}
