using Pretrain.Training.Probes;
using static TorchSharp.torch;

namespace Pretrain.Training.Tests.Objectives;

[Collection("torch")]
public sealed class ProbeTests
{
    /// <summary>Three Gaussian blobs: separable features give near-perfect probes; pure noise gives chance.</summary>
    private static (Tensor X, Tensor Y) Blobs(int n, double spread, long seed)
    {
        using var g = new Generator((ulong)seed);
        var y = randint(0, 3, [n], generator: g, dtype: ScalarType.Int64);
        var centers = tensor(new float[] { 4, 0, 0, 0, 4, 0, 0, 0, 4 }, [3, 3]);
        var x = centers[y] + spread * randn([n, 3], generator: g);
        return (x, y);
    }

    [Fact]
    public void Separable_features_score_high_and_noise_scores_chance()
    {
        var (trX, trY) = Blobs(600, 0.5, 1);
        var (teX, teY) = Blobs(300, 0.5, 2);
        Assert.True(LinearProbe.Accuracy(trX, trY, teX, teY, 3) > 0.97);
        Assert.True(KnnProbe.Accuracy(trX, trY, teX, teY, 3) > 0.97);

        using var g = new Generator(7);
        var noiseTr = randn([600, 3], generator: g);
        var noiseTe = randn([300, 3], generator: g);
        Assert.InRange(LinearProbe.Accuracy(noiseTr, trY, noiseTe, teY, 3), 0.2, 0.47);
        Assert.InRange(KnnProbe.Accuracy(noiseTr, trY, noiseTe, teY, 3), 0.2, 0.47);
    }
}
