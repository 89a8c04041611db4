using Pretrain.Distributed.Mpi;

namespace Pretrain.Distributed;

/// <summary>Creates the collectives backend a process was launched for.</summary>
public static class Collectives
{
    /// <summary>
    /// <see cref="SingleProcess"/> unless a launcher started this process as one of several ranks
    /// (<see cref="RankEnvironment.Detect()"/>); then MPI, with NCCL for CUDA tensors when the device is CUDA. Call once
    /// per process and dispose at the end (MPI_Finalize).
    /// </summary>
    public static ICollectives FromEnvironment(CollectiveOptions options)
    {
        options.Validate();
        var environment = RankEnvironment.Detect();
        if (environment.WorldSize <= 1) return SingleProcess.Instance;
        bool cuda = options.Device.Trim().StartsWith("cuda", StringComparison.OrdinalIgnoreCase);
        return cuda ? new MpiNcclCollectives(options, environment) : new MpiCollectives(options, environment);
    }
}
