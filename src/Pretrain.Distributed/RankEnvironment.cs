using System.Globalization;

namespace Pretrain.Distributed;

/// <summary>
/// This process's place in the job as its launcher's environment states it, read without initialising MPI (so rank 0
/// is known before anything else starts). Checked in order: Open MPI's mpirun (OMPI_COMM_WORLD_*), PMIx
/// (PMIX_RANK, with the size from OMPI_COMM_WORLD_SIZE or SLURM), MPICH/Intel's PMI (PMI_RANK, PMI_SIZE,
/// MPI_LOCALRANKID), SLURM's srun (SLURM_PROCID, SLURM_STEP_NUM_TASKS, SLURM_LOCALID; only inside a job step, so the
/// batch script itself, which also sees SLURM_NTASKS, is one process). None of them: one process.
/// </summary>
/// <param name="Source">Which launcher's variables were read ("mpirun", "pmi", "srun", "none").</param>
public sealed record RankEnvironment(int Rank, int WorldSize, int LocalRank, int LocalSize, string Source)
{
    /// <summary>One process, no launcher.</summary>
    public static RankEnvironment Single { get; } = new(0, 1, 0, 1, "none");

    /// <summary>Reads this process's environment.</summary>
    public static RankEnvironment Detect() => Detect(Environment.GetEnvironmentVariable);

    /// <summary>Reads the variables through <paramref name="get"/> (tests pass a dictionary).</summary>
    public static RankEnvironment Detect(Func<string, string?> get)
    {
        int? Int(string name)
        {
            string? text = get(name);
            if (string.IsNullOrWhiteSpace(text)) return null;
            return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value)
                ? value
                : throw new CollectiveException($"the launcher variable {name}='{text}' is not a non-negative integer");
        }

        RankEnvironment? found = null;
        if (Int("OMPI_COMM_WORLD_RANK") is int ompiRank && Int("OMPI_COMM_WORLD_SIZE") is int ompiSize)
        {
            found = new(ompiRank, ompiSize, Int("OMPI_COMM_WORLD_LOCAL_RANK") ?? 0, Int("OMPI_COMM_WORLD_LOCAL_SIZE") ?? 1, "mpirun");
        }
        else if (Int("PMI_RANK") is int pmiRank && Int("PMI_SIZE") is int pmiSize)
        {
            found = new(pmiRank, pmiSize, Int("MPI_LOCALRANKID") ?? Int("SLURM_LOCALID") ?? 0, Int("MPI_LOCALNRANKS") ?? 1, "pmi");
        }
        else if ((get("SLURM_STEP_ID") ?? get("SLURM_STEPID")) is { Length: > 0 } && Int("SLURM_PROCID") is int procId)
        {
            int size = Int("SLURM_STEP_NUM_TASKS") ?? Int("SLURM_NTASKS") ?? 1;
            int localSize = TasksOnNode(get("SLURM_STEP_TASKS_PER_NODE") ?? get("SLURM_TASKS_PER_NODE"), Int("SLURM_NODEID") ?? 0) ?? 1;
            found = new(Int("PMIX_RANK") ?? procId, size, Int("SLURM_LOCALID") ?? 0, localSize, "srun");
        }
        if (found is null) return Single;
        if (found.WorldSize < 1 || found.Rank >= found.WorldSize || found.LocalRank >= Math.Max(found.LocalSize, 1))
            throw new CollectiveException($"the launcher's environment ({found.Source}) is inconsistent: rank {found.Rank}, world size {found.WorldSize}, local rank {found.LocalRank} of {found.LocalSize}");
        return found;
    }

    /// <summary>SLURM's compressed task counts per node ("2(x3),1": nodes 0–2 run 2 tasks, node 3 runs 1) for node <paramref name="node"/>.</summary>
    internal static int? TasksOnNode(string? perNode, int node)
    {
        if (string.IsNullOrWhiteSpace(perNode)) return null;
        int first = 0;
        foreach (string part in perNode.Split(','))
        {
            int paren = part.IndexOf('(', StringComparison.Ordinal);
            if (!int.TryParse(paren < 0 ? part : part[..paren], NumberStyles.None, CultureInfo.InvariantCulture, out int tasks)) return null;
            int repeat = 1;
            if (paren >= 0 && (!part.EndsWith(')') || !part.AsSpan(paren + 1).StartsWith("x")
                || !int.TryParse(part.AsSpan(paren + 2, part.Length - paren - 3), NumberStyles.None, CultureInfo.InvariantCulture, out repeat)))
                return null;
            if (node < first + repeat) return tasks;
            first += repeat;
        }
        return null;
    }
}
