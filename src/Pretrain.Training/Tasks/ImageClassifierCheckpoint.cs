using System.Text.Json.Nodes;
using Pretrain.Data.Vision;
using Pretrain.Models.Heads;
using Pretrain.Models.Peft;
using Pretrain.Models.Vision;
using Pretrain.Models.Weights;
using Pretrain.Training.Checkpointing;
using Pretrain.Training.Recipes;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Training.Tasks;

/// <summary>
/// Files of an image-classification checkpoint. Full (fine-tune or scratch): Hugging Face ViTForImageClassification
/// (model.safetensors with vit.* and classifier.*; config.json with num_labels, model_type vit or pretrain-vit). LoRA:
/// PEFT adapter-only (adapter_model.safetensors; adapter_config.json with the head as modules_to_save) whose
/// base_model_name_or_path is the init checkpoint (an MAE, SimCLR or ViT folder). Both: config.json, whose
/// "pretrain" object also holds the pixel normalisation (image_mean, image_std) eval and predict must apply.
/// </summary>
public static class ImageClassifierCheckpoint
{
    /// <summary>
    /// Loads a ViT's encoder weights from an init checkpoint folder's model.safetensors (MAE: vit.* + decoder.*; SimCLR
    /// and ViT: the backbone). Every encoder tensor must be there with its shape, and nothing but known heads may be
    /// left over (else a <see cref="RecipeException"/> lists the missing and unexpected names, nothing loaded).
    /// </summary>
    /// <returns>A note on what the folder held that the classifier does not use (MAE decoder, SimCLR projection head).</returns>
    public static string LoadEncoder(VisionTransformer vit, string initDir)
    {
        var path = Path.Combine(initDir, "model.safetensors");
        if (!File.Exists(path))
            throw new RecipeException($"init.checkpoint {initDir} has no model.safetensors (an adapter-only LoRA run?). Start from a full checkpoint: an MAE or SimCLR pretraining run, or an imported ViT.");
        IReadOnlyList<string> skipped;
        try
        {
            using (NewDisposeScope())
                skipped = HfVitLayout.LoadHf(vit, Safetensors.Load(path));
        }
        catch (WeightsException e)
        {
            throw new RecipeException($"init.checkpoint {path}: {e.Message}", e);
        }
        var notes = new List<string>();
        int decoder = skipped.Count(n => n.StartsWith("decoder.", StringComparison.Ordinal));
        if (decoder > 0) notes.Add($"{decoder} MAE decoder tensors (decoder.*) ignored");
        int other = skipped.Count - decoder;
        if (other > 0) notes.Add($"{other} other head tensors ignored ({string.Join(", ", skipped.Where(n => !n.StartsWith("decoder.", StringComparison.Ordinal)).Take(4))})");
        if (File.Exists(Path.Combine(initDir, "projection_head.safetensors")))
            notes.Add("SimCLR projection head (projection_head.safetensors) ignored");
        return $"encoder loaded exactly from {path} (no missing or unexpected keys)" + (notes.Count > 0 ? "; " + string.Join("; ", notes) : "");
    }

    /// <summary>Writes <paramref name="model"/> into <paramref name="directory"/> (see the class summary).</summary>
    /// <param name="baseDir">The init checkpoint a LoRA adapter sits on (null for full models).</param>
    /// <param name="trainable">lora.trainable globs: backbone tensors they match are saved as modules_to_save.</param>
    /// <param name="transform">The train transform; its normalisation is recorded for eval and predict.</param>
    public static void Save(string directory, ImageClassifier model, string? baseDir, IReadOnlyList<string> trainable, ImageTransformOptions transform)
    {
        if (model.Encoder.Lora is not null)
        {
            PeftAdapterLayout.Save(directory, model.Encoder, model.Head, new PeftAdapterOptions
            {
                BaseModelNameOrPath = Path.GetFullPath(baseDir!),
                BaseWeightsFile = Path.Combine(baseDir!, "model.safetensors"),
                ModulesToSave = trainable,
            });
        }
        else
        {
            using (NewDisposeScope())
                Safetensors.Save(Path.Combine(directory, "model.safetensors"), HfVitLayout.ToHf(model.Encoder, model.Head),
                    new Dictionary<string, string> { ["format"] = "pt" });
        }
        var config = HfVitLayout.ConfigJson(model.Encoder.Config, numLabels: model.Head.NumClasses);
        var ours = (JsonObject)config["pretrain"]!;
        ours["image_mean"] = transform.Mean is { } m ? new JsonArray([.. m.Select(x => (JsonNode)(double)x)]) : null;
        ours["image_std"] = transform.Std is { } s ? new JsonArray([.. s.Select(x => (JsonNode)(double)x)]) : null;
        File.WriteAllText(Path.Combine(directory, "config.json"), config.ToJsonString(TrainerState.Json));
    }

    /// <summary>Loads a full checkpoint's model.safetensors (encoder and head) into <paramref name="model"/>.</summary>
    public static void LoadFull(ImageClassifier model, string directory)
    {
        var path = Path.Combine(directory, "model.safetensors");
        if (!File.Exists(path))
            throw new CheckpointException($"{directory} has no model.safetensors; a LoRA classifier checkpoint has adapter_model.safetensors instead.");
        using (NewDisposeScope())
            HfVitLayout.LoadHf(model.Encoder, Safetensors.Load(path), model.Head);
    }

    /// <summary>Whether <paramref name="dir"/>'s config.json describes a ViT with num_labels (an image classifier).</summary>
    public static bool IsImageClassifier(string dir)
    {
        var path = Path.Combine(dir, "config.json");
        if (!File.Exists(path)) return false;
        var json = JsonNode.Parse(File.ReadAllText(path)) as JsonObject;
        return json?["model_type"]?.GetValue<string>() is "vit" or "pretrain-vit" && json["num_labels"] is not null;
    }

    /// <summary>
    /// Opens an image-classification checkpoint for inference (eval mode, on <paramref name="device"/>): a full one
    /// alone, or a LoRA adapter over the base its adapter_config.json names (base sha256 checked). Also returns the
    /// eval transform: resize and centre-crop to the ViT's image size, its channel count, the recorded normalisation.
    /// </summary>
    public static (ImageClassifier Model, ImageTransformOptions Transform) Open(string dir, Device device)
    {
        var path = Path.Combine(dir, "config.json");
        if (!File.Exists(path))
            throw new CheckpointException($"{dir} has no config.json; it is not a model checkpoint.");
        var json = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new CheckpointException($"{path} is empty.");
        int classes = json["num_labels"]?.GetValue<int>()
            ?? throw new CheckpointException($"{path} has no num_labels: it is not an image-classification checkpoint (train one with objective.kind classify, model.arch vit).");
        var config = HfVitLayout.ConfigFromJson(json);
        bool lora = File.Exists(Path.Combine(dir, PeftAdapterLayout.ConfigFile));
        var vit = new VisionTransformer(config, lora ? PeftAdapterLayout.ReadConfig(dir, "vit") : null);
        var model = new ImageClassifier(vit, new ClassifierHead(config.EmbedDim, classes, config.Dropout));
        if (lora)
        {
            var adapter = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, PeftAdapterLayout.ConfigFile)))!;
            string baseDir = adapter["base_model_name_or_path"]?.GetValue<string>()
                ?? throw new CheckpointException($"{dir}/{PeftAdapterLayout.ConfigFile} has no base_model_name_or_path; the base model is unknown.");
            var baseWeights = Path.Combine(baseDir, "model.safetensors");
            if (!File.Exists(baseWeights))
                throw new CheckpointException($"The LoRA checkpoint {dir} needs its base {baseWeights}, which is missing. Restore the pretraining run it was fine-tuned from.");
            LoadEncoder(vit, baseDir);
            PeftAdapterLayout.Load(dir, vit, model.Head, baseWeights);
        }
        else
        {
            LoadFull(model, dir);
        }
        model.to(device);
        model.eval();
        var transform = EvalTransform(json, config);
        return (model, transform);
    }

    /// <summary>
    /// The eval transform an image classifier checkpoint records: resize and centre-crop to the ViT's image size, its
    /// channel count, config.json's pretrain.image_mean / image_std (also what `pretrain export --eval-data` applies).
    /// </summary>
    public static ImageTransformOptions EvalTransform(string dir)
    {
        var path = Path.Combine(dir, "config.json");
        var json = (File.Exists(path) ? JsonNode.Parse(File.ReadAllText(path)) as JsonObject : null)
            ?? throw new CheckpointException($"{dir} has no config.json; it is not a model checkpoint.");
        return EvalTransform(json, HfVitLayout.ConfigFromJson(json));
    }

    private static ImageTransformOptions EvalTransform(JsonObject json, VitConfig config)
    {
        var ours = json["pretrain"] as JsonObject;
        float[]? Floats(string key) => ours?[key] is JsonArray a ? [.. a.Select(x => (float)x!.GetValue<double>())] : null;
        return new ImageTransformOptions
        {
            Channels = config.NumChannels,
            Resize = config.ImageSize,
            CenterCrop = config.ImageSize,
            Mean = Floats("image_mean"),
            Std = Floats("image_std"),
        };
    }
}
