using Pretrain.Distributed;
using Pretrain.Training;
using Pretrain.Training.Recipes;

namespace Pretrain.Cli.Commands;

/// <summary>The collectives of this `pretrain run` process, created once (docs/distributed.md "Data-parallel training").</summary>
internal static class RankCollectives
{
    public static ICollectives Create(RunOptions options)
    {
        var recipe = RecipeLoader.LoadFile(options.RecipePath, options.Overrides);
        _ = TimeSpan.FromSeconds(recipe.Train.CollectiveTimeoutS);
        return SingleProcess.Instance;   // until the MPI backend lands: Collectives.FromEnvironment
    }
}
