namespace Pretrain.Training;

/// <summary>
/// The trainer step's one seam between backward and the optimizer: from the step's loss and global gradient norm
/// (read together, one device sync) it decides whether the optimizer may apply the gradients. A non-finite value
/// either stops the run (train.on_nonfinite: stop, the default) before any weight changes, or skips the update
/// (skip) and counts it; more than train.max_skipped_steps consecutive skips stop the run naming the step.
/// Because the check runs before <c>optimizer.step()</c>, a bad step never reaches the weights, so the last
/// checkpoint written stays the last good one.
/// <para>
/// Seam for the fp16 loss scaler (#8): the scaler unscales the gradients, then calls <see cref="Admit"/> with the
/// unscaled norm; where it decides on its own to skip an overflowing step it calls <see cref="Skip"/>, so its
/// skips count toward the same consecutive limit and the same <c>skipped_steps</c> metric.
/// </para>
/// </summary>
public sealed class StepGuard(string onNonfinite, int maxConsecutive, long skipped = 0, int consecutive = 0)
{
    /// <summary>Steps skipped over the whole run (kept in trainer_state.json, logged as skipped_steps).</summary>
    public long Skipped { get; private set; } = skipped;

    /// <summary>Skipped steps in a row up to now (kept in trainer_state.json so resume continues the streak).</summary>
    public int Consecutive { get; private set; } = consecutive;

    /// <summary>Whether skipped steps are counted in metrics rows (on_nonfinite skip).</summary>
    public bool Skips => onNonfinite == "skip";

    /// <summary>
    /// True: apply the update. False: skip it (the caller zeroes the gradients). Throws
    /// <see cref="NumericalFaultException"/> under on_nonfinite stop, or past the consecutive limit.
    /// </summary>
    public bool Admit(long step, double loss, double gradNorm)
    {
        if (double.IsFinite(loss) && double.IsFinite(gradNorm))
        {
            Consecutive = 0;
            return true;
        }
        string what = double.IsFinite(loss) ? $"the gradient norm became {gradNorm}" : $"the loss became {loss}";
        if (!Skips)
        {
            throw new NumericalFaultException($"At step {step} {what}; the run stopped before the update, so the last checkpoint is the last good one. " +
                "Lower optimizer.lr, check the data, or set train.on_nonfinite: skip to skip such steps.");
        }
        Skip(step, what);
        return false;
    }

    /// <summary>
    /// Counts one skipped step (also a loss scaler's overflow); throws past train.max_skipped_steps in a row, ending
    /// the message with <paramref name="remedy"/> when the caller knows a better one than the default.
    /// </summary>
    public void Skip(long step, string why, string? remedy = null)
    {
        Skipped++;
        Consecutive++;
        if (Consecutive > maxConsecutive)
        {
            throw new NumericalFaultException($"At step {step} {why}: {Consecutive} steps in a row skipped, more than train.max_skipped_steps ({maxConsecutive}); " +
                "the run stopped with the last good checkpoint kept. Lower optimizer.lr or check the data." + (remedy is null ? "" : " " + remedy));
        }
    }
}
