using static TorchSharp.torch;

namespace Pretrain.Training.Precision;

/// <summary>
/// fp16-mixed's dynamic loss scaler, with PyTorch GradScaler's rules and defaults: the loss is multiplied by
/// <see cref="Scale"/> before backward so small fp16 gradients do not flush to zero; the gradients are divided by
/// it again before clipping; a step whose gradients hold inf/NaN is skipped and the scale multiplied by
/// <paramref name="backoffFactor"/>; after <paramref name="growthInterval"/> clean steps in a row it is multiplied by
/// <paramref name="growthFactor"/>. <see cref="Scale"/> and <see cref="GrowthTracker"/> go into trainer_state.json.
/// </summary>
public sealed class DynamicLossScaler(double growthFactor = 2.0, double backoffFactor = 0.5, int growthInterval = 2000)
{
    public const double DefaultInitScale = 65536.0;

    /// <summary>The current loss scale.</summary>
    public double Scale { get; set; } = DefaultInitScale;

    /// <summary>Clean steps since the scale last changed.</summary>
    public int GrowthTracker { get; set; }

    /// <summary>The loss backward should see: <c>loss · scale</c>.</summary>
    public Tensor ScaleLoss(Tensor loss) => loss * Scale;

    /// <summary>Divides the gradients by the scale in place (before clipping and the finiteness check).</summary>
    public void Unscale(IEnumerable<Tensor> grads)
    {
        double inv = 1.0 / Scale;
        using var _ = no_grad();
        foreach (var g in grads) g.mul_(inv);
    }

    /// <summary>After each step: back off on overflow (the step was skipped), else count and maybe grow.</summary>
    public void Update(bool overflow)
    {
        if (overflow)
        {
            Scale *= backoffFactor;
            GrowthTracker = 0;
            return;
        }
        if (++GrowthTracker >= growthInterval)
        {
            Scale *= growthFactor;
            GrowthTracker = 0;
        }
    }
}
