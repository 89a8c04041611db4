using Pretrain.Models.Weights;
using Pretrain.Training.Optim;
using Pretrain.Training.Tasks;
using static TorchSharp.torch;

namespace Pretrain.Training.Checkpointing;

/// <summary>Loads what <see cref="CheckpointWriter"/> wrote back into a task's model, an optimizer and the RNG.</summary>
public static class CheckpointReader
{
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
