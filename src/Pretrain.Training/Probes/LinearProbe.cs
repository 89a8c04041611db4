using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Training.Probes;

/// <summary>
/// Linear probe on frozen features: standardise with the train split's statistics, then fit a multinomial logistic
/// regression (full-batch Adam, L2 weight decay, fixed epochs, seeded init) and report test accuracy — the standard
/// measure of a representation (MAE §4, SimCLR §4.2).
/// </summary>
public static class LinearProbe
{
    public static double Accuracy(Tensor trainX, Tensor trainY, Tensor testX, Tensor testY, int classes,
        int epochs = 300, double lr = 0.05, double weightDecay = 1e-4, long seed = 0)
    {
        using var scope = NewDisposeScope();
        var mean = trainX.mean([0], keepdim: true);
        var std = trainX.std(0, keepdim: true) + 1e-6;
        var x = (trainX - mean) / std;
        var xt = (testX - mean) / std;
        using var gen = new Generator((ulong)seed);
        var w = new TorchSharp.Modules.Parameter(randn([x.shape[1], classes], generator: gen) * 0.01);
        var b = new TorchSharp.Modules.Parameter(zeros(classes));
        var opt = optim.Adam([w, b], lr: lr, weight_decay: weightDecay);
        for (int e = 0; e < epochs; e++)
        {
            using var step = NewDisposeScope();
            opt.zero_grad();
            nn.functional.cross_entropy(x.matmul(w) + b, trainY).backward();
            opt.step();
        }
        using (no_grad())
            return (xt.matmul(w) + b).argmax(1).eq(testY).to(ScalarType.Float64).mean().item<double>();
    }
}
