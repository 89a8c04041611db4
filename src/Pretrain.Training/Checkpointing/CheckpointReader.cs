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

    /// <summary>
    /// trainer_state.json of a verified step folder, with its counters checked: the step must be the folder's
    /// (step-00000400 holds step 400; a folder outside a run, its manifest's step) and no counter may be negative.
    /// The manifest only proves the files are the ones written; this catches a hand edit or a bad writer.
    /// </summary>
    /// <exception cref="CheckpointException">A value is out of range; the message names the file and the value.</exception>
    public static TrainerState LoadState(string stepDir, long expectedStep)
    {
        string path = Path.Combine(stepDir, "trainer_state.json");
        TrainerState state;
        try
        {
            state = TrainerState.Load(path);
        }
        catch (InvalidDataException e)
        {
            throw new CheckpointException(e.Message, e);
        }
        string? problem = state switch
        {
            { Step: < 0 } => $"step {state.Step} is negative",
            _ when state.Step != expectedStep => $"step {state.Step} is not the step of its folder ({expectedStep})",
            { OptimizerSteps: < 0 } => $"optimizer_steps {state.OptimizerSteps} is negative",
            { TokensSeen: < 0 } => $"tokens_seen {state.TokensSeen} is negative",
            _ => null,
        };
        if (problem is not null)
        {
            throw new CheckpointException($"{path}: {problem}; the checkpoint was edited or damaged. "
                + "Restore it from a backup, or resume from an earlier step folder");
        }
        return state;
    }

    /// <summary>Loads weights, optimizer moments and RNG of a verified step folder; returns the trainer state.</summary>
    public static TrainerState Restore(string stepDir, long expectedStep, ITrainingTask task, AdamW optimizer)
    {
        var state = LoadState(stepDir, expectedStep);
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
