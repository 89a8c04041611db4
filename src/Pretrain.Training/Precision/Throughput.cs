using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Training.Precision;

/// <summary>
/// Achieved TFLOP/s and MFU for the metrics rows. Training FLOPs per token ≈ 6·N + 12·L·H·Q·T (PaLM, Chowdhery et
/// al. 2022, appendix B): N the parameters without position tables, L·H·Q summed over the attention layers (the
/// width of each q_proj), T the context length. <see cref="TokensPerUnit"/> turns the trainer's units (tokens, or
/// images) into tokens. The peak is the device's dense rate in the compute dtype: H100/H200 SXM 989 TFLOP/s bf16,
/// A100 312; on CPU the measured <see cref="MatmulProbe"/> rate.
/// </summary>
public sealed class Throughput
{
    /// <summary>Training FLOPs per token.</summary>
    public double FlopsPerToken { get; }

    /// <summary>Tokens per trainer unit: 1 for text, patches (+1 class token) for images.</summary>
    public double TokensPerUnit { get; }

    /// <summary>The peak TFLOP/s MFU divides by (0: unknown, no mfu column).</summary>
    public double PeakTflops { get; }

    public Throughput(nn.Module model, int contextLength, double tokensPerUnit, double peakTflops)
    {
        long n = 0;
        long attentionWidth = 0;   // Σ over layers of H·Q
        foreach (var (name, p) in model.named_parameters())
        {
            if (name.EndsWith("pos_embed.weight", StringComparison.Ordinal) || name.EndsWith("pos_embed", StringComparison.Ordinal)) continue;
            n += p.numel();
            if (name.EndsWith("q_proj.weight", StringComparison.Ordinal)) attentionWidth += p.shape[0];
        }
        FlopsPerToken = 6.0 * n + 12.0 * attentionWidth * contextLength;
        TokensPerUnit = tokensPerUnit;
        PeakTflops = peakTflops;
    }

    /// <summary>tflops and mfu for <paramref name="units"/> processed in <paramref name="seconds"/>.</summary>
    public (double Tflops, double Mfu) Of(long units, double seconds)
    {
        double tflops = FlopsPerToken * units * TokensPerUnit / Math.Max(seconds, 1e-9) / 1e12;
        return (tflops, PeakTflops > 0 ? tflops / PeakTflops : double.NaN);
    }

    /// <summary>
    /// The peak table: CUDA by card (dense; bf16/fp16 tensor cores: H100/H200 SXM 989, A100 312; fp32 without TF32:
    /// 67 and 19.5), CPU by measurement. 0 when the card is not in the table (no mfu then).
    /// </summary>
    public static double Peak(DeviceType device, ScalarType computeDtype)
    {
        if (device == DeviceType.CPU) return MatmulProbe.Cpu(computeDtype);
        string card = CudaCardName();
        bool hopper = card.Contains("H100", StringComparison.OrdinalIgnoreCase) || card.Contains("H200", StringComparison.OrdinalIgnoreCase);
        bool ampere = card.Contains("A100", StringComparison.OrdinalIgnoreCase);
        if (computeDtype == ScalarType.Float32) return hopper ? 67 : ampere ? 19.5 : 0;
        return hopper ? 989 : ampere ? 312 : 0;
    }

    /// <summary>The first NVIDIA card's model line from the driver's /proc files ("" when absent).</summary>
    private static string CudaCardName()
    {
        const string root = "/proc/driver/nvidia/gpus";
        if (!Directory.Exists(root)) return "";
        foreach (var dir in Directory.EnumerateDirectories(root).Order())
        {
            string info = Path.Combine(dir, "information");
            if (!File.Exists(info)) continue;
            var model = File.ReadLines(info).FirstOrDefault(l => l.StartsWith("Model:", StringComparison.Ordinal));
            if (model is not null) return model;
        }
        return "";
    }
}
