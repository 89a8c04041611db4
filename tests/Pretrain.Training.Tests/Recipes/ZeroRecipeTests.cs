using Pretrain.Training.Recipes;

namespace Pretrain.Training.Tests.Recipes;

/// <summary>train.zero (docs/distributed.md "ZeRO-1"): 0 by default, 0 or 1 accepted (1 at world size 1 is a no-op), anything else one clear line.</summary>
public sealed class ZeroRecipeTests
{
    private const string Base = "name: x\ndata:\n  train:\n    synthetic: {}\n";

    [Fact]
    public void Off_by_default_and_one_is_accepted_with_lora_too()
    {
        Assert.Equal(0, RecipeLoader.Parse(Base, "recipes/x.yaml").Train.Zero);
        Assert.Equal(1, RecipeLoader.Parse(Base + "train:\n  zero: 1\n", "recipes/x.yaml").Train.Zero);
        // LoRA trains with the same flat AdamW (frozen weights get no slot), so ZeRO-1 is not refused there.
        var lora = RecipeLoader.Parse(Base + "train:\n  zero: 1\ninit: {checkpoint: runs/base}\nlora: {rank: 4}\n", "recipes/x.yaml");
        Assert.Equal(1, lora.Train.Zero);
    }

    [Theory]
    [InlineData("train:\n  zero: 2\n", "train.zero must be 0 (every rank keeps all optimizer state) or 1 (ZeRO-1: each rank keeps its shard's), got 2")]
    [InlineData("train:\n  zero: -1\n", "train.zero must be 0")]
    [InlineData("train:\n  zero: one\n", "recipes/x.yaml:6: train.zero must be an integer, got 'one'")]
    public void A_bad_value_is_one_clear_line(string yaml, string expected)
    {
        var e = Assert.Throws<RecipeException>(() => RecipeLoader.Parse(Base + yaml, "recipes/x.yaml"));
        Assert.Single(e.Problems);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void May_change_on_resume() => Assert.Contains("train.zero", RecipeLoader.ResumeChangeableKeys);
}
