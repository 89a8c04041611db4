using System.Text.Json;
using System.Text.Json.Nodes;
using Pretrain.Models.Heads;
using Pretrain.Models.Peft;
using Pretrain.Models.Text;
using Pretrain.Models.Vision;
using Pretrain.Models.Weights;
using TorchSharp;

namespace Pretrain.Onnx.Export;

/// <summary>
/// Reads a checkpoint step folder for export by config.json's model_type: gpt2/llama → <see cref="DecoderLm"/>,
/// bert/pretrain-bert/pretrain-bert-preln → <see cref="EncoderLm"/>, vit/pretrain-vit/pretrain-mae →
/// <see cref="VisionTransformer"/>, with a <see cref="ClassifierHead"/> when the weights hold <c>classifier.*</c>.
/// An adapter-only LoRA checkpoint (adapter_config.json, no model.safetensors) is loaded onto its base
/// (base_model_name_or_path, sha256 checked against pretrain.base_sha256) and merged. Problems are
/// <see cref="OnnxExportException"/>s naming the file.
/// </summary>
public static class CheckpointLoader
{
    /// <summary>Loads the model of <paramref name="stepDir"/>, adapters merged, in eval mode.</summary>
    public static ExportModel Load(string stepDir)
    {
        if (!Directory.Exists(stepDir))
            throw new OnnxExportException($"Checkpoint folder {stepDir} does not exist; pass a step folder (runs/NAME/checkpoints/step-00001000) or a run folder.");
        var configPath = Path.Combine(stepDir, "config.json");
        var weightsPath = Path.Combine(stepDir, "model.safetensors");
        var adapterConfig = Path.Combine(stepDir, PeftAdapterLayout.ConfigFile);
        var adapter = !File.Exists(weightsPath) && File.Exists(adapterConfig);
        string? baseDir = null;
        if (adapter)
        {
            baseDir = BaseDir(stepDir, adapterConfig);
            weightsPath = Path.Combine(baseDir, "model.safetensors");
        }
        foreach (var file in new[] { configPath, weightsPath })
        {
            if (!File.Exists(file))
                throw new OnnxExportException($"{file} is missing: the checkpoint is incomplete. Export another step folder, or the run folder to use its latest checkpoint.");
        }
        var json = ReadJson(configPath);
        var type = (json["model_type"] as JsonValue)?.GetValue<string>()
            ?? throw new OnnxExportException($"{configPath} has no model_type; expected gpt2, llama, bert, pretrain-bert(-preln), vit or pretrain-vit.");
        var weights = ReadWeights(weightsPath);
        ExportModel? result = null;
        try
        {
            LoraConfig? lora = null;
            if (adapter)
                lora = PeftAdapterLayout.ReadConfig(stepDir, Arch(type));
            var pooling = json["pretrain"]?["pooling"]?.GetValue<string>();   // pretrain's classifiers: cls or mean; HF's: none
            var classifier = ClassifierShape(weights, "") is (long inDim, long classes) ? new ClassifierHead((int)inDim, (int)classes) { Pooling = pooling } : null;
            var baseHead = classifier; // the head the base weights fill; an adapter's own head is filled by the adapter load
            if (adapter && classifier is null)
            {
                // A LoRA classifier run saves its (fully trained) head beside the adapters (PEFT modules_to_save).
                var adapterWeights = ReadWeights(Path.Combine(stepDir, PeftAdapterLayout.WeightsFile));
                try
                {
                    if (ClassifierShape(adapterWeights, "base_model.model.") is (long i, long n))
                        classifier = new ClassifierHead((int)i, (int)n) { Pooling = pooling };
                }
                finally
                {
                    foreach (var t in adapterWeights.Values)
                        t.Dispose();
                }
            }
            IReadOnlyList<string> skipped;
            switch (type)
            {
                case "gpt2" or "llama" or "qwen2" or "qwen3" or "mistral" or "phi3":
                    classifier?.Dispose();
                    var decoder = new DecoderLm(DecoderCheckpoint.ReadConfig(configPath), lora);
                    result = new ExportModel { Decoder = decoder, ModelType = type, LoraMerged = adapter };
                    HfDecoderLayout.LoadHf(decoder, weights);
                    if (adapter)
                        PeftAdapterLayout.Load(stepDir, decoder, weightsPath);
                    if (lora is { QuantizeBase: not "none" })
                        LoraModel.QuantizeBase(decoder, lora.QuantizeBase); // QLoRA: merge into the base it trained against
                    skipped = [];
                    break;
                case "bert" or "pretrain-bert" or "pretrain-bert-preln":
                    var encoder = new EncoderLm(HfEncoderLayout.ConfigFromJson(json), lora);
                    result = new ExportModel { Encoder = encoder, Classifier = classifier, ModelType = type, LoraMerged = adapter };
                    skipped = HfEncoderLayout.LoadHf(encoder, weights, null, baseHead);
                    if (adapter)
                        PeftAdapterLayout.Load(stepDir, encoder, classifier, weightsPath);
                    break;
                case "vit" or "pretrain-vit" or "pretrain-mae":
                    var vit = new VisionTransformer(HfVitLayout.ConfigFromJson(json), lora);
                    result = new ExportModel { Vit = vit, Classifier = classifier, ModelType = type, LoraMerged = adapter };
                    skipped = HfVitLayout.LoadHf(vit, weights, baseHead);
                    if (adapter)
                        PeftAdapterLayout.Load(stepDir, vit, classifier, weightsPath);
                    break;
                default:
                    classifier?.Dispose();
                    throw new OnnxExportException($"{configPath}: model_type '{type}' cannot be exported; supported: gpt2, llama, qwen2, qwen3, mistral, phi3, bert, pretrain-bert, pretrain-bert-preln, vit, pretrain-vit, pretrain-mae.");
            }
            foreach (var m in result.Modules)
            {
                LoraModel.MergeAll(m);
                m.eval();
            }
            if (skipped.Any(n => n.StartsWith("cls.predictions.", StringComparison.Ordinal)))
                result.Notes.Add($"{weightsPath}: the MLM head (cls.predictions.*) is not exported; the export is the encoder.");
            if (skipped.Any(n => n.StartsWith("decoder.", StringComparison.Ordinal)))
                result.Notes.Add($"{weightsPath}: the MAE decoder (decoder.*) is not exported; the export is the ViT encoder.");
            if (adapter)
                result.Notes.Add($"LoRA adapters of {stepDir} merged into the base {baseDir}.");
            return result;
        }
        catch (Exception e) when (e is WeightsException or ArgumentException or InvalidOperationException)
        {
            result?.Dispose();
            var what = adapter ? $"{stepDir} (adapters) on its base {weightsPath}" : weightsPath;
            throw new OnnxExportException($"{what} does not match {configPath}: {e.Message}", e);
        }
        catch
        {
            result?.Dispose();
            throw;
        }
        finally
        {
            foreach (var t in weights.Values)
                t.Dispose();
        }
    }

    /// <summary>(in, classes) of a <c>classifier.weight</c> under <paramref name="prefix"/>, or null.</summary>
    private static (long In, long Classes)? ClassifierShape(Dictionary<string, torch.Tensor> weights, string prefix) =>
        weights.TryGetValue(prefix + "classifier.weight", out var w) && w.dim() == 2 ? (w.shape[1], w.shape[0]) : null;

    /// <summary>PEFT arch name for a model_type.</summary>
    private static string Arch(string type) => type switch
    {
        "gpt2" => type,
        "llama" or "qwen2" or "qwen3" or "mistral" or "phi3" => "llama",
        "bert" or "pretrain-bert" or "pretrain-bert-preln" => "bert",
        _ => "vit",
    };

    /// <summary>The base step folder named by adapter_config.json: absolute, relative to the working folder, or to the adapter.</summary>
    private static string BaseDir(string stepDir, string adapterConfig)
    {
        var json = ReadJson(adapterConfig);
        var named = (json["base_model_name_or_path"] as JsonValue)?.GetValue<string>();
        if (string.IsNullOrEmpty(named))
            throw new OnnxExportException($"{adapterConfig} has no base_model_name_or_path, and {stepDir} has no model.safetensors: "
                + "the adapters cannot be merged without their base. Export a checkpoint saved with lora.save_full, or set base_model_name_or_path.");
        foreach (var candidate in new[] { named, Path.Combine(stepDir, named) })
        {
            if (File.Exists(Path.Combine(candidate, "model.safetensors")))
                return Path.GetFullPath(candidate);
        }
        throw new OnnxExportException($"{adapterConfig} names the base {named}, which has no model.safetensors (looked relative to the "
            + $"working folder and to {stepDir}). Restore the base checkpoint, or fix base_model_name_or_path.");
    }

    private static JsonObject ReadJson(string path)
    {
        try
        {
            return JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new OnnxExportException($"{path} is not a JSON object.");
        }
        catch (JsonException e)
        {
            throw new OnnxExportException($"{path} is not valid JSON: {e.Message}", e);
        }
    }

    private static Dictionary<string, torch.Tensor> ReadWeights(string path)
    {
        try
        {
            return Safetensors.Load(path);
        }
        catch (WeightsException e)
        {
            throw new OnnxExportException($"{path} cannot be read: {e.Message}", e);
        }
    }
}
