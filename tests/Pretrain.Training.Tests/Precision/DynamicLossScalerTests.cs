using Pretrain.Training.Precision;
using Xunit;
using static TorchSharp.torch;

namespace Pretrain.Training.Tests.Precision;

/// <summary>PyTorch GradScaler's rules: backoff on overflow, growth after growth_interval clean steps, unscale exact.</summary>
[Collection("torch")]
public sealed class DynamicLossScalerTests
{
    [Fact]
    public void BacksOffOnOverflowAndGrowsBackAfterTheInterval()
    {
        var s = new DynamicLossScaler(growthInterval: 3);
        Assert.Equal(65536, s.Scale);
        s.Update(overflow: true);
        Assert.Equal(32768, s.Scale);
        s.Update(false);
        s.Update(false);
        Assert.Equal(32768, s.Scale);
        Assert.Equal(2, s.GrowthTracker);
        s.Update(true);                       // an overflow resets the clean streak
        Assert.Equal(16384, s.Scale);
        Assert.Equal(0, s.GrowthTracker);
        for (int i = 0; i < 3; i++) s.Update(false);
        Assert.Equal(32768, s.Scale);
        Assert.Equal(0, s.GrowthTracker);
    }

    [Fact]
    public void ScaleThenUnscaleGivesTheUnscaledGradient()
    {
        using var scope = NewDisposeScope();
        var s = new DynamicLossScaler { Scale = 1024 };
        var w = tensor(new[] { 0.5f, -2f }).requires_grad_();
        s.ScaleLoss((w * w).sum()).backward();
        Assert.Equal(new[] { 1024f, -4096f }, w.grad!.data<float>().ToArray());
        s.Unscale([w.grad!]);
        Assert.Equal(new[] { 1f, -4f }, w.grad!.data<float>().ToArray());
    }
}
