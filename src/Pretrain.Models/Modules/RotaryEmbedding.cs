using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Models.Modules;

/// <summary>
/// Rotary position embedding (Su et al. 2021, RoFormer §3.4) in Hugging Face's "rotate-half" layout: feature j is
/// paired with feature j + d/2, with inverse frequency θ^(−2j/d). cos/sin are computed per call in float32 on the
/// input's device (a (T, d) table, small next to the attention matmuls), so they never enter the state dict and
/// never follow a module dtype cast.
/// </summary>
public static class RotaryEmbedding
{
    /// <summary>Rotates queries or keys by their position: x·cos + rotate_half(x)·sin.</summary>
    /// <param name="x">Queries or keys (B, H, T, D).</param>
    /// <param name="theta">RoPE base.</param>
    /// <param name="positions">Position of each token (B, T) int64, e.g. restarting per packed document; null: 0..T-1.</param>
    public static Tensor Apply(Tensor x, double theta, Tensor? positions = null) // (B, H, T, D) -> (B, H, T, D)
    {
        var t = x.shape[2];
        var d = x.shape[3];
        var invFreq = 1.0 / torch.pow(theta, torch.arange(0, d, 2, ScalarType.Float32, x.device) / d); // (D/2,)
        Tensor emb;
        if (positions is null)
        {
            var freqs = torch.outer(torch.arange(t, ScalarType.Float32, x.device), invFreq);         // (T, D/2)
            emb = torch.cat([freqs, freqs], -1);                                                      // (T, D)
        }
        else
        {
            var freqs = positions.to_type(ScalarType.Float32).unsqueeze(-1) * invFreq;               // (B, T, D/2)
            emb = torch.cat([freqs, freqs], -1).unsqueeze(1);                                         // (B, 1, T, D)
        }
        var cos = emb.cos().to_type(x.dtype);
        var sin = emb.sin().to_type(x.dtype);
        return x * cos + RotateHalf(x) * sin;
    }

    private static Tensor RotateHalf(Tensor x) // (..., D): [x1, x2] -> [-x2, x1]
    {
        var half = x.shape[^1] / 2;
        var x1 = x[TensorIndex.Ellipsis, TensorIndex.Slice(0, half)];
        var x2 = x[TensorIndex.Ellipsis, TensorIndex.Slice(half)];
        return torch.cat([-x2, x1], -1);
    }
}
