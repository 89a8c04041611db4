using Pretrain.Training.Checkpointing;

namespace Pretrain.Training.Tests.Checkpointing;

/// <summary>A trainer_state.json whose step is negative or differs from its step folder is refused, naming the file.</summary>
[Collection("torch")]
public sealed class TrainerStateStepTests
{
    [Theory]
    [InlineData("-5")]
    [InlineData("1000000000000")]
    [InlineData("3")]
    public void Resume_refuses_a_step_that_is_negative_or_not_the_folders(string step)
    {
        using var dir = new TempDir();
        string recipe = TinyRun.Recipe(dir, maxSteps: 4);
        TinyRun.Run(recipe, dir["run"]);
        string stepDir = Path.Combine(dir["run"], "checkpoints", "step-00000004");
        string statePath = Path.Combine(stepDir, "trainer_state.json");
        string json = File.ReadAllText(statePath);
        File.WriteAllText(statePath, System.Text.RegularExpressions.Regex.Replace(json, "\"step\": 4", $"\"step\": {step}"));
        // An adversary (or a hand edit) keeps the manifest consistent, so only the value check can catch it.
        File.Delete(Path.Combine(stepDir, "manifest.json"));
        CheckpointManifest.Write(stepDir, 4, null);

        var e = Assert.Throws<CheckpointException>(() => TinyRun.Run(recipe, dir["run"], sets: ["train.max_steps=8"], resume: "auto"));
        Assert.Contains(statePath, e.Message);
        Assert.Contains(step, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }
}
