using System.Text.Json;
using System.Text.Json.Nodes;
using Pretrain.Models.Text;
using static Pretrain.Models.Weights.HfJson;

namespace Pretrain.Models.Weights;

/// <summary>
/// <see cref="DecoderLmConfig"/> ↔ Hugging Face config.json (GPT2Config; LlamaConfig and its family in <see cref="HfLlamaConfig"/>). The Hugging Face keys are
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
            json = HfLlamaConfig.ToJson(c);
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
        var type = Str(json, "model_type") ?? throw new WeightsException($"config.json has no model_type; expected gpt2, {string.Join(", ", HfLlamaConfig.Types)}.");
        var ours = json["pretrain"] as JsonObject;
        DecoderLmConfig config = type switch
        {
            "gpt2" or "pretrain-gpt2" => Gpt2(json, ours),
            _ when HfLlamaConfig.Types.Contains(type) => HfLlamaConfig.FromJson(json, ours, type),
            _ => throw new WeightsException($"config.json model_type '{type}' is not a decoder LM Pretrain can load (gpt2, {string.Join(", ", HfLlamaConfig.Types)})."),
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
}
