using Pretrain.Training.Recipes;

namespace Pretrain.Training.Tests.Distributed;

/// <summary>train.collective_timeout_s: default 600 s, one clear line for a bad value, changeable on resume.</summary>
public sealed class CollectiveTimeoutRecipeTests
{
    private const string Base = "name: x\ndata:\n  train:\n    synthetic: {}\n";

    [Fact]
    public void Defaults_to_600_seconds_and_takes_a_value()
    {
        Assert.Equal(600, RecipeLoader.Parse(Base, "recipes/x.yaml").Train.CollectiveTimeoutS);
        Assert.Equal(20, RecipeLoader.Parse(Base + "train:\n  collective_timeout_s: 20\n", "recipes/x.yaml").Train.CollectiveTimeoutS);
    }

    [Theory]
    [InlineData("0", "train.collective_timeout_s must be > 0 and at most 86400 (a day), got 0")]
    [InlineData("-5", "train.collective_timeout_s must be > 0 and at most 86400 (a day), got -5")]
    [InlineData("100000", "train.collective_timeout_s must be > 0 and at most 86400 (a day), got 100000")]
    [InlineData("soon", "recipes/x.yaml:6: train.collective_timeout_s must be a number (e.g. 0.1, 6e-4), got 'soon'")]
    public void A_bad_value_is_one_clear_line(string value, string expected)
    {
        var e = Assert.Throws<RecipeException>(() => RecipeLoader.Parse(Base + $"train:\n  collective_timeout_s: {value}\n", "recipes/x.yaml"));
        Assert.Single(e.Problems);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void May_change_on_resume()
    {
        var saved = RecipeLoader.Parse(Base, "recipes/x.yaml");
        Assert.Empty(RecipeLoader.ForbiddenResumeChanges(saved, saved with { Train = saved.Train with { CollectiveTimeoutS = 30 } }));
    }
}
