using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Models.Tests;

/// <summary>Weights large enough that attention is far from uniform and every norm scale and bias matters.</summary>
internal static class TestWeights
{
    public static void Randomize(nn.Module model, int seed)
    {
        using var generator = new Generator((ulong)seed);
        using var _ = torch.no_grad();
        foreach (var (name, p) in model.named_parameters())
        {
            using var draw = torch.randn(p.shape, generator: generator);
            if (name.EndsWith("bias", StringComparison.Ordinal))
                p.copy_(draw * 0.1);
            else if (p.dim() == 1)
                p.copy_(1 + draw * 0.2); // norm scales around 1
            else
                p.copy_(draw * 0.25);
        }
    }
}
