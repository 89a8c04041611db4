using System.Text.Json;
using Pretrain.Data.Text;
using Pretrain.Models.Text;
using Pretrain.Models.Weights;
using Pretrain.Training.Optim;
using static TorchSharp.torch;

namespace Pretrain.Training.Checkpointing;

/// <summary>
/// Writes one training checkpoint in DESIGN.md's layout: model.safetensors + config.json (Hugging Face layout of the
/// architecture's twin), tokenizer/, optimizer.safetensors + optimizer.json, trainer_state.json and the resolved
/// recipe.yaml; <see cref="CheckpointManager"/> adds manifest.json, renames atomically and prunes.
/// </summary>
public sealed class CheckpointWriter(CheckpointManager manager, DecoderLm model, AdamW optimizer, ITextTokenizer tokenizer, string recipeYaml)
{
    public string Save(long step, TrainerState state, double? metric) =>
        manager.Save(step, dir =>
        {
            using (NewDisposeScope())
            {
                var hf = HfDecoderLayout.ToHf(model);
                Safetensors.Save(Path.Combine(dir, "model.safetensors"), hf, new Dictionary<string, string> { ["format"] = "pt" });
                Safetensors.Save(Path.Combine(dir, "optimizer.safetensors"), optimizer.StateTensors());
            }
            var config = HfDecoderLayout.ConfigJson(model.Config);
            config["eos_token_id"] = tokenizer.EosId;
            config["bos_token_id"] = tokenizer.EosId;
            File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            File.WriteAllText(Path.Combine(dir, "optimizer.json"), JsonSerializer.Serialize(new
            {
                name = "adamw",
                step = optimizer.StepCount,
                lr = optimizer.LearningRate,
                parameters = optimizer.ParameterNames,
                decayed = optimizer.DecayedNames,
            }, TrainerState.Json));
            tokenizer.Save(Path.Combine(dir, "tokenizer"));
            state.Save(Path.Combine(dir, "trainer_state.json"));
            File.WriteAllText(Path.Combine(dir, "recipe.yaml"), recipeYaml);
        }, metric);
}
