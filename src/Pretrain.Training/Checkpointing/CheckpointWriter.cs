using System.Text.Json;
using Pretrain.Training.Optim;
using Pretrain.Training.Tasks;
using static TorchSharp.torch;

namespace Pretrain.Training.Checkpointing;

/// <summary>
/// Writes one training checkpoint in DESIGN.md's layout: the task's model files (model.safetensors + config.json
/// in the Hugging Face layout of the architecture's twin, always fp32, tokenizer/), optimizer.safetensors (moments
/// in the parameters' dtype) + optimizer.json,
/// trainer_state.json and the resolved recipe.yaml; <see cref="CheckpointManager"/> adds manifest.json, renames
/// atomically and prunes.
/// </summary>
public sealed class CheckpointWriter(CheckpointManager manager, ITrainingTask task, AdamW optimizer, string recipeYaml)
{
    public string Save(long step, TrainerState state, double? metric) =>
        manager.Save(step, dir =>
        {
            task.SaveModel(dir);
            Precision.Fp32Checkpoint.Upcast(dir);   // pure bf16 / a bf16 LoRA base: the model files still hold fp32
            using (NewDisposeScope())
                Models.Weights.Safetensors.Save(Path.Combine(dir, "optimizer.safetensors"), optimizer.StateTensors());
            File.WriteAllText(Path.Combine(dir, "optimizer.json"), JsonSerializer.Serialize(new
            {
                name = "adamw",
                step = optimizer.StepCount,
                lr = optimizer.LearningRate,
                parameters = optimizer.ParameterNames,
                decayed = optimizer.DecayedNames,
            }, TrainerState.Json));
            state.Save(Path.Combine(dir, "trainer_state.json"));
            File.WriteAllText(Path.Combine(dir, "recipe.yaml"), recipeYaml);
        }, metric);
}
