using Pretrain.Models.Text;
using Pretrain.Models.Weights;
using Pretrain.Training.Optim;
using static TorchSharp.torch;

namespace Pretrain.Training.Checkpointing;

/// <summary>Loads what <see cref="CheckpointWriter"/> wrote back into a model, an optimizer and the RNG.</summary>
public static class CheckpointReader
{
    /// <summary>Reads the model config of a (verified) step folder.</summary>
    public static DecoderLmConfig ReadConfig(string stepDir)
    {
        var path = Path.Combine(stepDir, "config.json");
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path))?.AsObject()
            ?? throw new CheckpointException($"{path} is empty.");
        return HfDecoderLayout.ConfigFromJson(json);
    }

    /// <summary>Loads weights, optimizer moments and RNG; returns the trainer state.</summary>
    public static TrainerState Restore(string stepDir, DecoderLm model, AdamW optimizer)
    {
        var state = TrainerState.Load(Path.Combine(stepDir, "trainer_state.json"));
        using (NewDisposeScope())
        {
            var weights = Safetensors.Load(Path.Combine(stepDir, "model.safetensors"));
            HfDecoderLayout.LoadHf(model, weights);
            var moments = Safetensors.Load(Path.Combine(stepDir, "optimizer.safetensors"));
            optimizer.LoadState(moments, state.OptimizerSteps, Path.Combine(stepDir, "optimizer.safetensors"));
        }
        optimizer.LearningRate = state.LearningRate;
        RngState.Restore(Convert.FromBase64String(state.RngState));
        return state;
    }
}
