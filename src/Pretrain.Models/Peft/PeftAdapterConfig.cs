using System.Text.Json;
using System.Text.Json.Nodes;
using Pretrain.Models.Weights;

namespace Pretrain.Models.Peft;

/// <summary>
/// <c>adapter_config.json</c> in PEFT's LoraConfig fields, plus our extras under <c>pretrain</c>: <c>arch</c>,
/// <c>targets</c> and <c>layers</c> in our names, <c>base_sha256</c>, and <c>c_attn: "block_diagonal"</c> (GPT-2) or
/// <c>fused: "block_diagonal"</c> (Phi-3) when separate adapters of a fused module were written as one block-diagonal
/// adapter. DoRA sets PEFT's <c>use_dora</c>.
/// </summary>
internal static class PeftAdapterConfig
{
    public const string BlockDiagonal = "block_diagonal";

    public static JsonObject ToJson(string arch, LoraConfig lora, PeftAdapterOptions options, bool hasClassifier,
        IEnumerable<string> modulesToSave, IReadOnlyDictionary<string, int> fusedParts, string? baseSha256)
    {
        var (targets, listForm) = PeftTargetModules.For(arch, lora);
        var rankPattern = new JsonObject();
        var alphaPattern = new JsonObject();
        foreach (var (module, parts) in fusedParts.Where(kv => kv.Value > 1))
        {
            // PEFT scales by alpha/rank (or alpha/√rank): rank |S|·r needs alpha |S|·α (or √|S|·α) to keep α/r.
            rankPattern[module] = parts * lora.Rank;
            alphaPattern[module] = lora.UseRslora ? lora.Alpha * Math.Sqrt(parts) : lora.Alpha * parts;
        }
        var save = modulesToSave.ToList();
        var json = new JsonObject
        {
            ["peft_type"] = "LORA",
            ["task_type"] = options.TaskType ?? DefaultTaskType(arch, hasClassifier),
            ["base_model_name_or_path"] = options.BaseModelNameOrPath,
            ["r"] = lora.Rank,
            ["lora_alpha"] = lora.Alpha,
            ["lora_dropout"] = lora.Dropout,
            ["target_modules"] = targets,
            ["layers_to_transform"] = listForm && lora.Layers is not null ? new JsonArray([.. lora.Layers.Order().Select(l => (JsonNode)l)]) : null,
            ["layers_pattern"] = listForm && lora.Layers is not null ? PeftArch.LayersPattern(arch) : null,
            ["rank_pattern"] = rankPattern,
            ["alpha_pattern"] = alphaPattern,
            ["bias"] = "none",
            ["fan_in_fan_out"] = arch == "gpt2",
            ["modules_to_save"] = save.Count > 0 ? new JsonArray([.. save.Select(s => (JsonNode)s)]) : null,
            ["use_rslora"] = lora.UseRslora,
            ["use_dora"] = lora.UseDora,
            ["init_lora_weights"] = true,
            ["inference_mode"] = true,
            ["pretrain"] = new JsonObject
            {
                ["arch"] = arch,
                ["targets"] = new JsonArray([.. lora.Targets.Select(t => (JsonNode)t)]),
                ["layers"] = lora.Layers is null ? null : new JsonArray([.. lora.Layers.Select(l => (JsonNode)l)]),
                ["base_sha256"] = baseSha256,
                [FusedKey(arch)] = fusedParts.Count > 0 ? BlockDiagonal : null,
            },
        };
        if (lora.QuantizeBase != "none")
            json["pretrain"]!["quantize_base"] = lora.QuantizeBase; // the base the adapter was trained against (QLoRA)
        return json;
    }

    /// <summary>
    /// The extras key that says fused modules hold our separate adapters block-diagonally: <c>c_attn</c> (GPT-2, the
    /// original name) or <c>fused</c> (Phi-3's qkv_proj and gate_up_proj).
    /// </summary>
    public static string FusedKey(string arch) => arch == "gpt2" ? "c_attn" : "fused";

    public static JsonObject Read(string path)
    {
        try
        {
            return JsonNode.Parse(File.ReadAllText(path)) as JsonObject
                ?? throw new WeightsException($"{path} is not a JSON object.");
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new WeightsException($"{path} is missing: an adapter folder holds {PeftAdapterLayout.ConfigFile} and {PeftAdapterLayout.WeightsFile}.", e);
        }
        catch (JsonException e)
        {
            throw new WeightsException($"{path} is not valid JSON: {e.Message}", e);
        }
    }

    /// <summary>PEFT's alpha for a module: <c>alpha_pattern</c> when a key names it (equal or as a dotted suffix), else <c>lora_alpha</c>.</summary>
    public static double AlphaFor(JsonObject json, string modulePath) =>
        Pattern(json, "alpha_pattern", modulePath) ?? HfJson.Num(json, "lora_alpha") ?? 8;

    private static double? Pattern(JsonObject json, string key, string modulePath)
    {
        if (json[key] is not JsonObject patterns)
            return null;
        foreach (var (k, _) in patterns)
        {
            if (modulePath == k || modulePath.EndsWith("." + k, StringComparison.Ordinal))
                return HfJson.Num(patterns, k);
        }
        return null;
    }

    private static string? DefaultTaskType(string arch, bool hasClassifier) => arch switch
    {
        "gpt2" or "llama" or "phi3" => "CAUSAL_LM",
        "bert" => hasClassifier ? "SEQ_CLS" : "FEATURE_EXTRACTION",
        _ => null,
    };
}
