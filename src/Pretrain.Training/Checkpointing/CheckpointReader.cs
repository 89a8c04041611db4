using Pretrain.Models.Weights;
using Pretrain.Training.Optim;
using Pretrain.Training.Tasks;
using static TorchSharp.torch;

namespace Pretrain.Training.Checkpointing;

/// <summary>Loads what <see cref="CheckpointWriter"/> wrote back into a task's model, an optimizer and the RNG.</summary>
public static class CheckpointReader
{
    /// <summary>The decoder config of a checkpoint folder (config.json, Hugging Face GPT-2 or Llama layout).</summary>
    public static Pretrain.Models.Text.DecoderLmConfig ReadDecoderConfig(string dir)
    {
        var path = Path.Combine(dir, "config.json");
        if (!File.Exists(path))
            throw new CheckpointException($"{dir} has no config.json; it is not a model checkpoint.");
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path))?.AsObject()
            ?? throw new CheckpointException($"{path} is empty.");
        return HfDecoderLayout.ConfigFromJson(json);
    }

    /// <summary>Loads weights, optimizer moments and RNG of a verified step folder; returns the trainer state.</summary>
    public static TrainerState Restore(string stepDir, ITrainingTask task, AdamW optimizer)
    {
        var state = TrainerState.Load(Path.Combine(stepDir, "trainer_state.json"));
        task.LoadModel(stepDir);
        using (NewDisposeScope())
        {
            var path = Path.Combine(stepDir, "optimizer.safetensors");
            optimizer.LoadState(Safetensors.Load(path), state.OptimizerSteps, path);
        }
        optimizer.LearningRate = state.LearningRate;
        RngState.Restore(Convert.FromBase64String(state.RngState));
        return state;
    }
}
