using System.Text.Json;
using System.Text.Json.Nodes;
using Pretrain.Models.Heads;
using Pretrain.Models.Text;
using Pretrain.Models.Vision;
using Pretrain.Models.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Cli.Import;

/// <summary>
/// A Hugging Face model folder as an import source: config.json + model.safetensors (or model.safetensors.index.json
/// and its shards), model_type gpt2 / llama / qwen2 / qwen3 / mistral / phi3 (DecoderLm; bf16 and fp16 tensors are
/// written back in their own dtype, so the checkpoint's tensors equal the source's byte for byte), bert (EncoderLm, with the MLM head or classifier when the
/// file has one) or vit (VisionTransformer, with a classifier when present). Base and task-model prefixes both load;
/// the checkpoint is written in the task model's layout. Every tensor is checked before anything is written.
/// </summary>
internal static class HfFolderImport
{
    public static ImportedModel Load(string dir, string? arch)
    {
        var configPath = Path.Combine(dir, "config.json");
        var json = ReadConfig(configPath);
        var type = json["model_type"] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
        if (arch is not null && type is not null && arch != type)
            throw new WeightsException($"{configPath} has model_type '{type}', but --arch {arch} was given; drop --arch or pass the right folder.");
        type ??= arch ?? throw new WeightsException($"{configPath} has no model_type; pass --arch gpt2|llama|qwen2|qwen3|mistral|phi3|bert|vit.");
        json["model_type"] = type;
        var weights = ReadWeights(dir);
        try
        {
            return type switch
            {
                "gpt2" or "llama" or "qwen2" or "qwen3" or "mistral" or "phi3" => Decoder(dir, json, weights, type),
                "bert" or "pretrain-bert" or "pretrain-bert-preln" => Encoder(dir, json, weights),
                "vit" or "pretrain-vit" => Vit(json, weights),
                _ => throw new WeightsException($"{configPath}: model_type '{type}' is not one Pretrain imports (gpt2, llama, qwen2, qwen3, mistral, phi3, bert, vit)."),
            };
        }
        catch (WeightsException e)
        {
            throw new WeightsException($"{dir}: {e.Message}", e);
        }
        finally
        {
            foreach (var t in weights.Values)
                t.Dispose();
        }
    }

    private static ImportedModel Decoder(string dir, JsonObject json, Dictionary<string, Tensor> weights, string type)
    {
        var config = HfDecoderLayout.ConfigFromJson(json);
        var model = new DecoderLm(config);
        // The model computes in float32; half-precision sources go back to their dtype (exact: fp32 holds every bf16/fp16).
        var prefix = HfDecoderLayout.Prefix(config);
        var dtypes = weights.ToDictionary(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal) || kv.Key == "lm_head.weight" ? kv.Key : prefix + kv.Key,
            kv => kv.Value.dtype, StringComparer.Ordinal);
        // config.json's bos/eos ids (the first of a list), else generation_config.json's.
        var generation = File.Exists(Path.Combine(dir, "generation_config.json")) ? ReadConfig(Path.Combine(dir, "generation_config.json")) : null;
        int? TokenId(string key) => ImportTokenizer.TokenId(json[key]) ?? ImportTokenizer.TokenId(generation?[key]);
        return Build(model, () => HfDecoderLayout.LoadHf(model, weights), [], out_ =>
        {
            var tensors = HfDecoderLayout.ToHf(model);
            foreach (var (name, t) in tensors.ToList())
            {
                if (dtypes.TryGetValue(name, out var dtype) && dtype is ScalarType.BFloat16 or ScalarType.Float16 && t.dtype != dtype)
                    tensors[name] = t.to_type(dtype);
            }
            Save(out_, tensors, HfDecoderLayout.ConfigJson(config, TokenId("bos_token_id"), TokenId("eos_token_id")));
            Tokenizer(dir, out_, type);
        }, $"{type} decoder ({config.NumLayers} layers, width {config.EmbedDim}, vocab {config.VocabSize})");
    }

    private static ImportedModel Encoder(string dir, JsonObject json, Dictionary<string, Tensor> weights)
    {
        var names = weights.Keys.Select(k => k.StartsWith("bert.", StringComparison.Ordinal) ? k[5..] : k).ToHashSet(StringComparer.Ordinal);
        var config = HfEncoderLayout.ConfigFromJson(json) with { Pooler = names.Contains("pooler.dense.weight") };
        var model = new EncoderLm(config);
        var mlm = names.Contains("cls.predictions.transform.dense.weight") ? new MlmHead(model) : null;
        var classifier = weights.TryGetValue("classifier.weight", out var c) ? new ClassifierHead(config.EmbedDim, (int)c.shape[0]) : null;
        IReadOnlyList<string> skipped = [];
        var heads = mlm is not null ? "MLM head" : classifier is not null ? $"classifier ({classifier.NumClasses} labels)" : "no head";
        return Build(model, () => skipped = HfEncoderLayout.LoadHf(model, weights, mlm, classifier), [mlm, classifier], out_ =>
        {
            Save(out_, HfEncoderLayout.ToHf(model, mlm, classifier), HfEncoderLayout.ConfigJson(config, classifier?.NumClasses));
            Tokenizer(dir, out_, "bert");
        }, $"BERT encoder ({config.NumLayers} layers, width {config.EmbedDim}, {heads})", () => skipped);
    }

    private static ImportedModel Vit(JsonObject json, Dictionary<string, Tensor> weights)
    {
        var config = HfVitLayout.ConfigFromJson(json);
        var model = new VisionTransformer(config);
        var classifier = weights.TryGetValue("classifier.weight", out var c) ? new ClassifierHead(config.EmbedDim, (int)c.shape[0]) : null;
        IReadOnlyList<string> skipped = [];
        return Build(model, () => skipped = HfVitLayout.LoadHf(model, weights, classifier), [classifier], out_ =>
            Save(out_, HfVitLayout.ToHf(model, classifier), HfVitLayout.ConfigJson(config, null, classifier?.NumClasses)),
            $"ViT ({config.NumLayers} layers, width {config.EmbedDim}, {config.ImageSize}px/{config.PatchSize}px{(classifier is null ? "" : ", classifier")})", () => skipped);
    }

    private static ImportedModel Build(torch.nn.Module model, Action load, torch.nn.Module?[] heads, Action<string> write, string what,
        Func<IReadOnlyList<string>>? skipped = null)
    {
        var owner = new Owners([model, .. heads.OfType<torch.nn.Module>()]);
        try
        {
            load();
            var notes = skipped?.Invoke() is { Count: > 0 } s ? [$"left out {s.Count} tensor(s) no module here uses: {string.Join(", ", s.Take(8))}"] : new List<string>();
            return new ImportedModel(what, notes, write, owner);
        }
        catch
        {
            owner.Dispose();
            throw;
        }
    }

    private static void Save(string dir, Dictionary<string, Tensor> tensors, JsonObject config)
    {
        using (torch.NewDisposeScope())
            Safetensors.Save(Path.Combine(dir, "model.safetensors"), tensors);
        File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    private static void Tokenizer(string source, string dir, string type) => ImportTokenizer.CopyFromHf(source, dir, type);

    private static JsonObject ReadConfig(string path)
    {
        if (!File.Exists(path))
            throw new WeightsException($"{path} is missing: a Hugging Face model folder needs config.json beside its weights.");
        try
        {
            return JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new WeightsException($"{path} is not a JSON object.");
        }
        catch (JsonException e)
        {
            throw new WeightsException($"{path} is not valid JSON: {e.Message}", e);
        }
    }

    /// <summary>model.safetensors, or every shard model.safetensors.index.json names (each tensor must be in its shard).</summary>
    private static Dictionary<string, Tensor> ReadWeights(string dir)
    {
        var single = Path.Combine(dir, "model.safetensors");
        if (File.Exists(single))
            return Safetensors.Load(single);
        var indexPath = Path.Combine(dir, "model.safetensors.index.json");
        if (!File.Exists(indexPath))
            throw new WeightsException($"{dir} has neither model.safetensors nor model.safetensors.index.json (pytorch_model.bin is not read: convert it to safetensors).");
        Dictionary<string, string> map;
        try
        {
            map = (JsonNode.Parse(File.ReadAllText(indexPath))?["weight_map"] as JsonObject)?
                .ToDictionary(kv => kv.Key, kv => kv.Value!.GetValue<string>(), StringComparer.Ordinal)
                ?? throw new WeightsException($"{indexPath} has no weight_map object.");
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw new WeightsException($"{indexPath} is not a valid safetensors index: {e.Message}", e);
        }
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var file in map.Values.Distinct().Order(StringComparer.Ordinal))
            {
                if (Path.IsPathRooted(file) || file.Contains("..", StringComparison.Ordinal))
                    throw new WeightsException($"{indexPath} names shard '{file}' outside the folder.");
                var shard = Safetensors.Load(Path.Combine(dir, file));
                foreach (var (name, tensor) in shard)
                {
                    if (map.GetValueOrDefault(name) == file && result.TryAdd(name, tensor))
                        continue;
                    tensor.Dispose(); // not where the index says: reported as missing below if nowhere else
                }
            }
            var absent = map.Keys.Where(k => !result.ContainsKey(k)).Order(StringComparer.Ordinal).ToList();
            if (absent.Count > 0)
                throw new WeightsException($"{indexPath} lists tensors its shards do not hold: {string.Join(", ", absent.Take(10).Select(a => $"{a} (in {map[a]})"))}.");
            return result;
        }
        catch
        {
            foreach (var t in result.Values)
                t.Dispose();
            throw;
        }
    }

    private sealed class Owners(torch.nn.Module[] modules) : IDisposable
    {
        public void Dispose()
        {
            foreach (var m in modules)
                m.Dispose();
        }
    }
}
