using Pretrain.Training.Recipes;

namespace Pretrain.Training.Tests.Recipes;

/// <summary>The two activation-checkpointing keys: defaults, and one clear line for each bad value.</summary>
public sealed class ActivationCheckpointingRecipeTests
{
    private const string Base = "name: x\ndata:\n  train:\n    synthetic: {}\n";

    [Fact]
    public void Off_by_default_and_every_block_when_on()
    {
        var off = RecipeLoader.Parse(Base, "recipes/x.yaml");
        Assert.False(off.Train.ActivationCheckpointing);
        Assert.Equal(1, off.Train.ActivationCheckpointingEvery);
        var on = RecipeLoader.Parse(Base + "train:\n  activation_checkpointing: true\n  activation_checkpointing_every: 2\n", "recipes/x.yaml");
        Assert.True(on.Train.ActivationCheckpointing);
        Assert.Equal(2, on.Train.ActivationCheckpointingEvery);
    }

    [Theory]
    [InlineData("train:\n  activation_checkpointing: maybe\n", "recipes/x.yaml:6: train.activation_checkpointing must be true or false, got 'maybe'")]
    [InlineData("train:\n  activation_checkpointing: true\n  activation_checkpointing_every: 0\n", "train.activation_checkpointing_every must be at least 1, got 0")]
    [InlineData("train:\n  activation_checkpointing: true\n  activation_checkpointing_every: two\n", "recipes/x.yaml:7: train.activation_checkpointing_every must be an integer, got 'two'")]
    [InlineData("train:\n  activation_checkpointing_every: 2\n", "train.activation_checkpointing_every has no effect without train.activation_checkpointing: true")]
    public void A_bad_value_is_one_clear_line(string yaml, string expected)
    {
        var e = Assert.Throws<RecipeException>(() => RecipeLoader.Parse(Base + yaml, "recipes/x.yaml"));
        Assert.Single(e.Problems);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Both_keys_may_change_on_resume()
    {
        Assert.Contains("train.activation_checkpointing", RecipeLoader.ResumeChangeableKeys);
        Assert.Contains("train.activation_checkpointing_every", RecipeLoader.ResumeChangeableKeys);
    }
}
