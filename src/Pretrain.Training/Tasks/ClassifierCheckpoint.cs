using System.Text.Json.Nodes;
using Pretrain.Data.Text;
using Pretrain.Models.Heads;
using Pretrain.Models.Peft;
using Pretrain.Models.Text;
using Pretrain.Models.Weights;
using Pretrain.Training.Checkpointing;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Training.Tasks;

/// <summary>
/// Files of a sequence-classification checkpoint. Full fine-tune: Hugging Face BertForSequenceClassification
/// (model.safetensors with bert.* and classifier.*, config.json with num_labels). LoRA: PEFT adapter-only
/// (adapter_model.safetensors, adapter_config.json with task_type SEQ_CLS and the head as modules_to_save) whose
/// base_model_name_or_path is the init checkpoint. Both: config.json (pooling under "pretrain") and tokenizer/.
/// </summary>
public static class ClassifierCheckpoint
{
    /// <summary>The encoder config of a checkpoint or imported model folder (config.json, BERT layout).</summary>
    public static EncoderLmConfig ReadEncoderConfig(string dir) => HfEncoderLayout.ConfigFromJson(ReadConfigJson(dir));

    /// <summary>Writes <paramref name="model"/> into <paramref name="directory"/> (see the class summary).</summary>
    public static void Save(string directory, SequenceClassifier model, ITextTokenizer tokenizer, string? baseDir, IReadOnlyList<string> trainable, int seqLen)
    {
        if (model.Encoder.Lora is not null)
        {
            PeftAdapterLayout.Save(directory, model.Encoder, model.Head, new PeftAdapterOptions
            {
                BaseModelNameOrPath = Path.GetFullPath(baseDir!),
                BaseWeightsFile = Path.Combine(baseDir!, "model.safetensors"),
                TaskType = "SEQ_CLS",
                ModulesToSave = trainable,
            });
        }
        else
        {
            using (NewDisposeScope())
                Safetensors.Save(Path.Combine(directory, "model.safetensors"), HfEncoderLayout.ToHf(model.Encoder, null, model.Head),
                    new Dictionary<string, string> { ["format"] = "pt" });
        }
        var config = HfEncoderLayout.ConfigJson(model.Encoder.Config, model.Head.NumClasses);
        ((JsonObject)config["pretrain"]!)["pooling"] = model.Pooling;
        ((JsonObject)config["pretrain"]!)["seq_len"] = seqLen;
        File.WriteAllText(Path.Combine(directory, "config.json"), config.ToJsonString(TrainerState.Json));
        tokenizer.Save(Path.Combine(directory, "tokenizer"));
    }

    /// <summary>Loads a full fine-tune's model.safetensors (encoder and head) into <paramref name="model"/>.</summary>
    public static void LoadFull(SequenceClassifier model, string directory)
    {
        var path = Path.Combine(directory, "model.safetensors");
        if (!File.Exists(path))
            throw new CheckpointException($"{directory} has no model.safetensors; a LoRA classifier checkpoint has adapter_model.safetensors instead.");
        using (NewDisposeScope())
            HfEncoderLayout.LoadHf(model.Encoder, Safetensors.Load(path), null, model.Head);
    }

    /// <summary>
    /// Opens a classification checkpoint for inference (eval mode, on <paramref name="device"/>): a full one alone, or
    /// a LoRA adapter over the base its adapter_config.json names (base sha256 checked).
    /// </summary>
    public static (SequenceClassifier Model, ITextTokenizer Tokenizer, int SeqLen) Open(string dir, Device device)
    {
        var json = ReadConfigJson(dir);
        int classes = json["num_labels"]?.GetValue<int>()
            ?? throw new CheckpointException($"{dir}/config.json has no num_labels: it is not a sequence-classification checkpoint (train one with objective.kind classify).");
        string pooling = json["pretrain"]?["pooling"]?.GetValue<string>() ?? "cls";
        int seqLen = json["pretrain"]?["seq_len"]?.GetValue<int>() ?? 128;
        var config = HfEncoderLayout.ConfigFromJson(json);
        var tokenizerDir = Path.Combine(dir, "tokenizer");
        if (!Directory.Exists(tokenizerDir))
            throw new CheckpointException($"{dir} has no tokenizer/ folder; it is not a classification checkpoint written by pretrain.");
        var tokenizer = TokenizerFactory.Load(tokenizerDir);
        bool lora = File.Exists(Path.Combine(dir, PeftAdapterLayout.ConfigFile));
        var encoder = new EncoderLm(config, lora ? PeftAdapterLayout.ReadConfig(dir, "bert") : null);
        var model = new SequenceClassifier(encoder, new ClassifierHead(config.EmbedDim, classes, config.Dropout), pooling);
        if (lora)
        {
            var adapter = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, PeftAdapterLayout.ConfigFile)))!;
            string baseDir = adapter["base_model_name_or_path"]?.GetValue<string>()
                ?? throw new CheckpointException($"{dir}/{PeftAdapterLayout.ConfigFile} has no base_model_name_or_path; the base model is unknown.");
            var baseWeights = Path.Combine(baseDir, "model.safetensors");
            if (!File.Exists(baseWeights))
                throw new CheckpointException($"The LoRA checkpoint {dir} needs its base {baseWeights}, which is missing. Restore the base model folder (e.g. tools/data/minilm.sh).");
            using (NewDisposeScope())
                HfEncoderLayout.LoadHf(encoder, Safetensors.Load(baseWeights));
            PeftAdapterLayout.Load(dir, encoder, model.Head, baseWeights);
        }
        else
        {
            LoadFull(model, dir);
        }
        model.to(device);
        model.eval();
        return (model, tokenizer, seqLen);
    }

    private static JsonObject ReadConfigJson(string dir)
    {
        var path = Path.Combine(dir, "config.json");
        if (!File.Exists(path))
            throw new CheckpointException($"{dir} has no config.json; it is not a model checkpoint.");
        return JsonNode.Parse(File.ReadAllText(path))?.AsObject() ?? throw new CheckpointException($"{path} is empty.");
    }
}
