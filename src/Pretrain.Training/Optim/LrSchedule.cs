namespace Pretrain.Training.Optim;

/// <summary>
/// Learning rate as a pure function of the step: linear warmup from 0 to the peak over <c>warmup</c> steps,
/// then cosine, linear or constant decay to <c>minRatio · peak</c> at <c>total</c> steps (nanoGPT's shape).
/// A pure function keeps resume exact: nothing to save but the step.
/// </summary>
public sealed class LrSchedule(string kind, double peak, int warmup, int total, double minRatio)
{
    /// <summary>Learning rate for optimizer step <paramref name="step"/> (0-based).</summary>
    public double At(long step)
    {
        if (warmup > 0 && step < warmup) return peak * (step + 1) / warmup;
        double min = peak * minRatio;
        if (kind == "constant" || total <= warmup) return peak;
        double progress = Math.Clamp((double)(step - warmup) / Math.Max(1, total - warmup), 0, 1);
        return kind switch
        {
            "cosine" => min + 0.5 * (1 + Math.Cos(Math.PI * progress)) * (peak - min),
            "linear" => peak - progress * (peak - min),
            _ => throw new ArgumentException($"schedule.kind '{kind}' is not one of cosine, linear, constant."),
        };
    }
}
