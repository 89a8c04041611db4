using static TorchSharp.torch;

namespace Pretrain.Training.Probes;

/// <summary>
/// Weighted k-nearest-neighbour classifier on frozen features (Wu et al. 2018, as in DINO/SimCLR evaluations):
/// cosine similarity, the k most similar train samples vote with weight exp(sim / τ).
/// </summary>
public static class KnnProbe
{
    public static double Accuracy(Tensor trainX, Tensor trainY, Tensor testX, Tensor testY, int classes,
        int k = 20, double temperature = 0.07, int chunk = 1024)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var train = nn.functional.normalize(trainX, dim: 1);
        var test = nn.functional.normalize(testX, dim: 1);
        long correct = 0;
        int kk = (int)Math.Min(k, train.shape[0]);
        for (long start = 0; start < test.shape[0]; start += chunk)
        {
            using var inner = NewDisposeScope();
            long len = Math.Min(chunk, test.shape[0] - start);
            var sim = test.narrow(0, start, len).matmul(train.t());          // (n, Ntrain)
            var (top, idx) = sim.topk(kk, dim: 1);
            // Votes are summed in fp32 whatever dtype the similarities came in (bf16 under a mixed-precision eval).
            var votes = zeros(len, classes).scatter_add_(1, trainY[idx], (top.to(ScalarType.Float32) / temperature).exp());
            correct += votes.argmax(1).eq(testY.narrow(0, start, len)).sum().item<long>();
        }
        return (double)correct / test.shape[0];
    }
}
