using Pretrain.Models.Weights;

namespace Pretrain.Training.Tests;

/// <summary>model.* sizes that cannot fit are refused with the numbers before the model is built.</summary>
[Collection("torch")]
public sealed class ModelSizeRecipeTests
{
    [Theory]
    [InlineData("model.embed_dim=1000000000")]
    [InlineData("model.num_layers=10000000")]
    public void Absurd_model_sizes_are_refused_before_libtorch_allocates(string set)
    {
        using var dir = new TempDir();
        string recipe = TinyRun.Recipe(dir);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var e = Assert.Throws<WeightsException>(() => TinyRun.Run(recipe, dir["run"], sets: [set]));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");
        Assert.Contains(set, e.Message);
        Assert.Contains("gradients and AdamW state", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }
}
