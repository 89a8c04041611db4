using Pretrain.Distributed;
using Pretrain.Training;
using Pretrain.Training.Recipes;

namespace Pretrain.Cli.Commands;

/// <summary>The collectives of this `pretrain run` process, created once (docs/distributed.md "Data-parallel training").</summary>
internal static class RankCollectives
{
    /// <summary>
    /// One process unless a launcher (mpirun, srun) started several ranks. The timeout and device come from the recipe
    /// named on the command line with its --set overrides (train.collective_timeout_s may also be changed on resume).
    /// </summary>
    public static ICollectives Create(RunOptions options)
    {
        if (RankEnvironment.Detect().WorldSize <= 1) return SingleProcess.Instance;   // the recipe is read once, by the runner
        var train = RecipeLoader.LoadFile(options.RecipePath, options.Overrides).Train;
        string device = train.Device == "auto" ? (TorchSharp.torch.cuda.is_available() ? "cuda" : "cpu") : train.Device;
        return Collectives.FromEnvironment(new CollectiveOptions(TimeSpan.FromSeconds(train.CollectiveTimeoutS), device));
    }
}
