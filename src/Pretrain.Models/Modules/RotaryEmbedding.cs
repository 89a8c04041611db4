using Pretrain.Models.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Models.Modules;

/// <summary>
/// Rotary position embedding (Su et al. 2021, RoFormer §3.4) in Hugging Face's "rotate-half" layout: feature j is
/// paired with feature j + d/2, with inverse frequency θ^(−2j/d), optionally rescaled (<see cref="RopeScaling"/>).
/// cos/sin are computed per call in float32 on the input's device (a (T, d) table, small next to the attention
/// matmuls), so they never enter the state dict and never follow a module dtype cast.
/// </summary>
public static class RotaryEmbedding
{
    /// <summary>
    /// The inverse frequencies (D/2,) float32. The ONNX exporter stores this same tensor, so both agree bit for bit.
    /// llama3 scaling (Meta's Llama 3.1 reference): with wavelength λ = 2π/f, L = original context,
    /// λ &gt; L/low_freq_factor → f/factor; λ &lt; L/high_freq_factor → f; between, (1 − s)·f/factor + s·f with
    /// s = (L/λ − low_freq_factor)/(high_freq_factor − low_freq_factor). linear: f/factor everywhere.
    /// </summary>
    public static Tensor InverseFrequencies(long dim, double theta, RopeScaling? scaling, Device? device = null)
    {
        var invFreq = 1.0 / torch.pow(theta, torch.arange(0, dim, 2, ScalarType.Float32, device) / dim); // (D/2,)
        if (scaling is null)
            return invFreq;
        using var f = invFreq.to_type(ScalarType.Float64);
        if (scaling.Type == "linear")
            return (f / scaling.Factor).to_type(ScalarType.Float32);
        using var wavelen = 2 * Math.PI / f;
        var lowWavelen = scaling.OriginalMaxPositions / scaling.LowFreqFactor;    // longer than this: scaled
        var highWavelen = scaling.OriginalMaxPositions / scaling.HighFreqFactor;  // shorter than this: kept
        using var smooth = (scaling.OriginalMaxPositions / wavelen - scaling.LowFreqFactor) / (scaling.HighFreqFactor - scaling.LowFreqFactor);
        using var smoothed = (1 - smooth) * f / scaling.Factor + smooth * f;
        using var low = wavelen > lowWavelen;
        using var high = wavelen < highWavelen;
        using var scaled = f / scaling.Factor;
        using var mid = torch.where(high, f, smoothed);
        using var result = torch.where(low, scaled, mid);
        return result.to_type(ScalarType.Float32);
    }

    /// <summary>Rotates queries or keys by their position with plain RoPE of base <paramref name="theta"/>.</summary>
    public static Tensor Apply(Tensor x, double theta, Tensor? positions = null) => // (B, H, T, D) -> (B, H, T, D)
        Apply(x, InverseFrequencies(x.shape[3], theta, null, x.device), positions);

    /// <summary>Rotates queries or keys by their position: x·cos + rotate_half(x)·sin.</summary>
    /// <param name="x">Queries or keys (B, H, T, D).</param>
    /// <param name="invFreq">Inverse frequencies (D/2,) float32 on x's device (<see cref="InverseFrequencies"/>).</param>
    /// <param name="positions">Position of each token (B, T) int64, e.g. restarting per packed document; null: 0..T-1.</param>
    public static Tensor Apply(Tensor x, Tensor invFreq, Tensor? positions) // (B, H, T, D) -> (B, H, T, D)
    {
        var t = x.shape[2];
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
