using Pretrain.Training.Recipes;

namespace Pretrain.Training.Tasks;

/// <summary>Picks the task for objective.kind.</summary>
public static class TrainingTasks
{
    public static ITrainingTask Create(TaskContext ctx) => ctx.Recipe.Objective.Kind switch
    {
        "clm" => CausalLmTask.Build(ctx),
        "mlm" => MaskedLmTask.Build(ctx),
        "mae" => MaskedAutoencoderTask.Build(ctx),
        "simclr" => SimClrTask.Build(ctx),
        "classify" when ctx.Recipe.Model.Arch == "vit" => ImageClassifyTask.Build(ctx),
        "simcse" => SimCseTask.Build(ctx),
        "classify" => ClassifyTask.Build(ctx),
        "sft" => SftTask.Build(ctx),
        "distill" => DistillTask.Build(ctx),
        var kind => throw new RecipeException($"objective.kind '{kind}' is not available in this version yet."),
    };
}
