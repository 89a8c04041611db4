using Pretrain.Training.Objectives;
using static TorchSharp.torch;

namespace Pretrain.Training.Tests.Objectives;

[Collection("torch")]
public sealed class ContrastiveLossTests
{
    private static double[,] Normalised(Tensor t)
    {
        var rows = (int)t.shape[0];
        var cols = (int)t.shape[1];
        var d = t.data<float>().ToArray();
        var r = new double[rows, cols];
        for (int i = 0; i < rows; i++)
        {
            double norm = 0;
            for (int j = 0; j < cols; j++) norm += d[i * cols + j] * (double)d[i * cols + j];
            norm = Math.Sqrt(norm);
            for (int j = 0; j < cols; j++) r[i, j] = d[i * cols + j] / norm;
        }
        return r;
    }

    private static double Dot(double[,] a, int i, double[,] b, int j)
    {
        double s = 0;
        for (int k = 0; k < a.GetLength(1); k++) s += a[i, k] * b[j, k];
        return s;
    }

    /// <summary>NT-Xent written out term by term (Chen et al. 2020, eq. 1) in double precision.</summary>
    [Fact]
    public void NtXent_equals_the_papers_formula_on_a_small_case()
    {
        random.manual_seed(3);
        var v1 = randn(3, 5);
        var v2 = randn(3, 5);
        const double tau = 0.5;
        var z = Normalised(cat([v1, v2], 0));
        int n2 = 6;
        double expected = 0;
        for (int i = 0; i < n2; i++)
        {
            int pos = (i + 3) % n2;
            double denom = 0;
            for (int k = 0; k < n2; k++) if (k != i) denom += Math.Exp(Dot(z, i, z, k) / tau);
            expected += -Math.Log(Math.Exp(Dot(z, i, z, pos) / tau) / denom);
        }
        double actual = ContrastiveLoss.NtXent(v1, v2, tau).item<float>();
        Assert.Equal(expected, actual, 4);
    }

    [Fact]
    public void InfoNce_equals_in_batch_cross_entropy_by_hand()
    {
        random.manual_seed(4);
        var a = randn(4, 3);
        var p = randn(4, 3);
        const double tau = 0.05;
        var za = Normalised(a);
        var zp = Normalised(p);
        double expected = 0;
        for (int i = 0; i < 4; i++)
        {
            double denom = 0;
            for (int k = 0; k < 4; k++) denom += Math.Exp(Dot(za, i, zp, k) / tau);
            expected += -(Dot(za, i, zp, i) / tau - Math.Log(denom));
        }
        Assert.Equal(expected, ContrastiveLoss.InfoNce(a, p, tau).item<float>(), 2);
    }

    [Fact]
    public void Gradients_flow_to_both_views()
    {
        var v1 = randn(4, 3, requires_grad: true);
        var v2 = randn(4, 3, requires_grad: true);
        ContrastiveLoss.NtXent(v1, v2, 0.5).backward();
        Assert.True(v1.grad!.abs().sum().item<float>() > 0);
        Assert.True(v2.grad!.abs().sum().item<float>() > 0);
    }
}
