using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Models.Modules;

/// <summary>Shared initialisation for encoder-family models (BERT, ViT, MAE): N(0, std) matrices, zero biases, unit norms.</summary>
public static class WeightInit
{
    /// <summary>
    /// Every parameter of 2+ dimensions N(0, <paramref name="std"/>), every bias 0, every other 1-D parameter (norm
    /// scales) 1. Draws from a CPU generator seeded with <paramref name="seed"/>, in parameter order, so the result
    /// depends on nothing else (not the global RNG, not the device). LoRA matrices (lora_a, lora_b) are left as built.
    /// </summary>
    public static void Normal(nn.Module module, long seed, double std)
    {
        using var generator = new Generator(unchecked((ulong)seed), torch.CPU);
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();   // in-place ops return wrappers; free them now, not at GC
        foreach (var (name, p) in module.named_parameters())
        {
            if (Peft.LoraLinear.IsAdapterParameter(name))
                continue;
            if (p.dim() >= 2)
            {
                using var draw = torch.empty(p.shape, ScalarType.Float32).normal_(0, std, generator);
                p.copy_(draw);
            }
            else if (name.EndsWith(".bias", StringComparison.Ordinal) || name == "bias")
            {
                p.zero_();
            }
            else
            {
                p.fill_(1.0);
            }
        }
    }
}
