namespace Pretrain.Distributed;

/// <summary>How <see cref="Collectives.FromEnvironment"/> sets up the backend.</summary>
/// <param name="Timeout">A collective that has not completed on every rank within this time ends the job naming the
/// rank(s) that did not arrive (recipe key train.collective_timeout_s, default 600 s).</param>
/// <param name="Device">The training device ("cpu", "cuda", "cuda:1"): CUDA devices add NCCL for CUDA tensors.</param>
public sealed record CollectiveOptions(TimeSpan Timeout, string Device = "cpu")
{
    /// <summary>The defaults: 600 s, CPU.</summary>
    public static CollectiveOptions Default { get; } = new(TimeSpan.FromSeconds(600));

    /// <summary>Checks the values; throws <see cref="ArgumentOutOfRangeException"/> naming the bad one.</summary>
    public void Validate()
    {
        if (Timeout <= TimeSpan.Zero || Timeout > TimeSpan.FromDays(7))
            throw new ArgumentOutOfRangeException(nameof(Timeout), Timeout, "the collective timeout must be between 0 and 7 days (train.collective_timeout_s)");
    }
}
