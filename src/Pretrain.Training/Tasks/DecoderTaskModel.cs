using Pretrain.Data.Text;
using Pretrain.Models.Peft;
using Pretrain.Models.Text;
using Pretrain.Models.Weights;
using Pretrain.Training.Checkpointing;
using Pretrain.Training.Recipes;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Training.Tasks;

/// <summary>
/// The decoder side shared by the decoder tasks (clm, sft): builds a <see cref="DecoderLm"/> from the recipe or
/// init.checkpoint (shape from its config.json, weights loaded), wires LoRA (frozen base, adapters and
/// lora.trainable train), and saves/loads checkpoints: full weights in the GPT-2/Llama layout, or the PEFT adapter
/// over the init base (plus the merged model when lora.save_full).
/// </summary>
public sealed class DecoderTaskModel
{
    private readonly string? _initDir;
    private readonly bool _loraSaveFull;
    private readonly IReadOnlyList<string> _loraTrainable;

    private DecoderTaskModel(DecoderLm model, ITextTokenizer tokenizer, string? initDir, bool loraSaveFull, IReadOnlyList<string> loraTrainable)
    {
        Model = model;
        Tokenizer = tokenizer;
        _initDir = initDir;
        _loraSaveFull = loraSaveFull;
        _loraTrainable = loraTrainable;
    }

    public DecoderLm Model { get; }

    public ITextTokenizer Tokenizer { get; }

    /// <summary>Builds the decoder (seeded init, init.checkpoint weights, LoRA freezing) on the run's device.</summary>
    public static DecoderTaskModel Build(TaskContext ctx)
    {
        var recipe = ctx.Recipe;
        var tokenizer = ctx.Tokenizer;
        var config = ctx.InitDir is { } init ? CheckpointReader.ReadDecoderConfig(init) : CausalLmTask.ModelConfig(recipe.Model, tokenizer);
        var model = new DecoderLm(config, ctx.Lora, ctx.ActivationCheckpointing);
        model.InitializeWeights(recipe.Train.Seed);
        if (ctx.InitDir is { } dir)
            LoadBase(model, dir);
        if (ctx.Lora is not null)
            LoraModel.FreezeBase(model, [.. recipe.Lora!.Trainable]);
        model.to(ctx.Device);
        if (ctx.Lora is { QuantizeBase: not "none" } lora)
            LoraModel.QuantizeBase(model, lora.QuantizeBase); // on the device, after the base weights are in
        return new DecoderTaskModel(model, tokenizer, ctx.InitDir, recipe.Lora?.SaveFull ?? false, recipe.Lora?.Trainable ?? []);
    }

    /// <summary>Architecture, size, vocabulary, LoRA and where it started from.</summary>
    public string Describe => $"{Model.Config.Arch} decoder, {Model.ParameterCount() / 1e6:F2}M parameters, vocab {Model.Config.VocabSize}"
        + (Model.Lora is null ? "" : $", LoRA r={Model.Lora.Rank} on {string.Join("/", Model.Lora.Targets)}: {LoraModel.TrainableParameterCount(Model) / 1e3:F1}k trainable")
        + (_initDir is null ? "" : $", from {_initDir}");

    /// <summary>Loads full weights (Hugging Face layout) from a checkpoint folder; LoRA parameters stay as built.</summary>
    public static void LoadBase(DecoderLm model, string dir)
    {
        var path = Path.Combine(dir, "model.safetensors");
        if (!File.Exists(path))
            throw new RecipeException($"init.checkpoint {dir} has no model.safetensors (an adapter-only LoRA run?). Start from a full checkpoint, or train that run with lora.save_full: true.");
        using (NewDisposeScope())
            HfDecoderLayout.LoadHf(model, Safetensors.Load(path));
    }

    /// <summary>Writes model (or adapter), config.json and tokenizer into a checkpoint folder.</summary>
    public void Save(string directory)
    {
        if (Model.Lora is not null)
        {
            // Adapter-only (PEFT layout) with the base's path and sha256; the full merged model only when asked.
            PeftAdapterLayout.Save(directory, Model, new PeftAdapterOptions
            {
                BaseModelNameOrPath = _initDir,
                BaseWeightsFile = Path.Combine(_initDir!, "model.safetensors"),
                TaskType = "CAUSAL_LM",
                ModulesToSave = _loraTrainable,
            });
        }
        if (Model.Lora is null || _loraSaveFull)
        {
            using (NewDisposeScope())
                Safetensors.Save(Path.Combine(directory, "model.safetensors"),
                    Model.Lora is null ? HfDecoderLayout.ToHf(Model) : LoraModel.ExportMerged(Model, () => HfDecoderLayout.ToHf(Model)),
                    new Dictionary<string, string> { ["format"] = "pt" });
        }
        var config = HfDecoderLayout.ConfigJson(Model.Config, Tokenizer.EosId, Tokenizer.EosId);
        File.WriteAllText(Path.Combine(directory, "config.json"), config.ToJsonString(TrainerState.Json));
        Tokenizer.Save(Path.Combine(directory, "tokenizer"));
    }

    /// <summary>Loads weights written by <see cref="Save"/>: full weights, or the init base then this checkpoint's adapters.</summary>
    public void Load(string directory)
    {
        if (Model.Lora is null)
        {
            LoadBase(Model, directory);
            return;
        }
        // The frozen base, then this checkpoint's adapters (base sha256 checked). A quantized base (QLoRA) was loaded
        // from the same init folder at Build and holds no float weights to load into; it stays as it is.
        if (Model.Lora.QuantizeBase == "none")
            LoadBase(Model, _initDir!);
        PeftAdapterLayout.Load(directory, Model, Path.Combine(_initDir!, "model.safetensors"));
    }
}
