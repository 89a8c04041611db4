using Pretrain.Training.Optim;
using TorchSharp;
using Parameter = TorchSharp.Modules.Parameter;
using AdamW = Pretrain.Training.Optim.AdamW;
using static TorchSharp.torch;

namespace Pretrain.Training.Tests.Optim;

[Collection("torch")]
public sealed class AdamWTests
{
    /// <summary>Our AdamW must match TorchSharp's own AdamW (an independent implementation of the same algorithm).</summary>
    [Fact]
    public void Matches_TorchSharp_AdamW_with_and_without_weight_decay()
    {
        random.manual_seed(0);
        var ours = new Parameter(randn(4, 3));
        var bias = new Parameter(randn(3));
        var refW = new Parameter(ours.detach().clone());
        var refB = new Parameter(bias.detach().clone());
        using var opt = new AdamW([("w", ours), ("b", bias)], (_, p) => p.dim() >= 2, 1e-2, 0.9, 0.95, 1e-8, 0.1);
        var reference = torch.optim.AdamW([
            new TorchSharp.Modules.AdamW.ParamGroup([refW], new TorchSharp.Modules.AdamW.Options { LearningRate = 1e-2, weight_decay = 0.1, beta1 = 0.9, beta2 = 0.95, eps = 1e-8 }),
            new TorchSharp.Modules.AdamW.ParamGroup([refB], new TorchSharp.Modules.AdamW.Options { LearningRate = 1e-2, weight_decay = 0.0, beta1 = 0.9, beta2 = 0.95, eps = 1e-8 }),
        ]);
        for (int i = 0; i < 5; i++)
        {
            var x = randn(2, 4);
            (x.matmul(ours) + bias).pow(2).sum().backward();
            (x.matmul(refW) + refB).pow(2).sum().backward();
            opt.step();
            opt.zero_grad();
            reference.step();
            reference.zero_grad();
        }
        Assert.True(ours.allclose(refW, rtol: 1e-5, atol: 1e-6), "weights diverge from torch.optim.AdamW");
        Assert.True(bias.allclose(refB, rtol: 1e-5, atol: 1e-6), "biases diverge from torch.optim.AdamW");
        Assert.Equal(5, opt.StepCount);
    }

    [Fact]
    public void Frozen_parameters_get_no_state()
    {
        var trainable = new Parameter(zeros(2));
        var frozen = new Parameter(zeros(2), requires_grad: false);
        using var opt = new AdamW([("a", trainable), ("b", frozen)], (_, _) => true, 1e-3, 0.9, 0.999, 1e-8, 0);
        Assert.Equal(["a"], opt.ParameterNames);
        Assert.Equal(2, opt.StateTensors().Count);
    }

    [Fact]
    public void LoadState_rejects_missing_and_misshapen_moments()
    {
        var p = new Parameter(zeros(2, 2));
        using var opt = new AdamW([("w", p)], (_, _) => true, 1e-3, 0.9, 0.999, 1e-8, 0);
        var missing = Assert.Throws<InvalidDataException>(() => opt.LoadState(new Dictionary<string, Tensor>(), 1, "opt.safetensors"));
        Assert.Contains("w.exp_avg", missing.Message);
        var wrong = new Dictionary<string, Tensor> { ["w.exp_avg"] = zeros(3), ["w.exp_avg_sq"] = zeros(2, 2) };
        var shape = Assert.Throws<InvalidDataException>(() => opt.LoadState(wrong, 1, "opt.safetensors"));
        Assert.Contains("shape", shape.Message);
    }
}
