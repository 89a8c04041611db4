using TorchSharp;

namespace Pretrain.Models.Tests;

/// <summary>Proves the build made libLibTorchSharp.so loadable on this libstdc++ (GLIBCXX weak-version fix).</summary>
[Collection("torch")]
public sealed class TorchLoadsTests
{
    [Fact]
    public void Matmul_runs_on_cpu()
    {
        using var a = torch.ones(2, 3);
        using var b = torch.ones(3, 4);
        using var c = a.matmul(b);
        Assert.Equal(new long[] { 2, 4 }, c.shape);
        Assert.Equal(3f, c[1, 2].item<float>());
    }
}
