using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Models.Vision;

/// <summary>
/// MAE's fixed 2-D sin-cos position table (He et al. 2021; facebookresearch/mae util/pos_embed.py): the first d/2
/// features encode the patch column, the last d/2 its row, each as [sin(pos·ω), cos(pos·ω)] with ω_k = 10000^(−k/(d/4)).
/// Patches are numbered row-major. Computed in float64 and returned as float32.
/// </summary>
public static class SinCosPositions
{
    /// <summary>(1, [1+]G·G, d) table; with <paramref name="classToken"/> a zero row comes first.</summary>
    public static Tensor Table2D(int dim, int gridSize, bool classToken)
    {
        if (dim % 4 != 0)
            throw new ArgumentException($"2-D sin-cos positions need a width divisible by 4; got {dim}.", nameof(dim));
        using var scope = torch.NewDisposeScope();
        var idx = torch.arange(gridSize, ScalarType.Float64);
        var rows = idx.repeat_interleave(gridSize);                          // (G·G,) row of patch n = n / G
        var cols = idx.repeat(gridSize);                                     // (G·G,) column of patch n = n % G
        var table = torch.cat([OneD(dim / 2, cols), OneD(dim / 2, rows)], 1); // (G·G, d)
        if (classToken)
            table = torch.cat([torch.zeros(1, dim, ScalarType.Float64), table], 0); // (1 + G·G, d)
        return table.unsqueeze(0).to_type(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    private static Tensor OneD(int dim, Tensor positions) // (M,) -> (M, dim)
    {
        var omega = 1.0 / torch.pow(10000.0, torch.arange(dim / 2, ScalarType.Float64) / (dim / 2.0)); // (dim/2,)
        var angle = torch.outer(positions, omega);                                                  // (M, dim/2)
        return torch.cat([angle.sin(), angle.cos()], 1);
    }
}
