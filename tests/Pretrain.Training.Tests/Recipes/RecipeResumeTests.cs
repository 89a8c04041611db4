using Pretrain.Training.Recipes;

namespace Pretrain.Training.Tests.Recipes;

/// <summary>On resume only keys that do not alter the work already done may change.</summary>
public sealed class RecipeResumeTests
{
    private static readonly Recipe Saved = RecipeLoader.Parse(
        "name: x\ndata:\n  train:\n    synthetic: {}\n  eval:\n    fraction: 0.1\n", "saved.yaml");

    [Fact]
    public void Same_recipe_has_no_forbidden_changes() =>
        Assert.Empty(RecipeLoader.ForbiddenResumeChanges(Saved, Saved with { }));

    [Fact]
    public void Cadences_length_and_performance_knobs_may_change()
    {
        var requested = RecipeLoader.Parse(RecipeLoader.ToYaml(Saved), "saved.yaml",
        [
            "train.max_steps=5000", "train.log_every=1", "train.eval_every=7", "train.checkpoint_every=9",
            "train.keep_last=5", "train.keep_best=0", "train.threads=3", "train.device=cuda:1", "data.prefetch=2",
            "data.eval.max_batches=10",
        ]);
        Assert.Equal(10, RecipeLoader.Differences(Saved, requested).Count);
        Assert.Empty(RecipeLoader.ForbiddenResumeChanges(Saved, requested));
    }

    [Fact]
    public void Changes_to_the_computation_are_reported_by_key()
    {
        var requested = RecipeLoader.Parse(RecipeLoader.ToYaml(Saved), "saved.yaml",
            ["optimizer.lr=1e-3", "train.max_steps=2000", "model.num_layers=4", "data.eval.fraction=0.2", "optimizer.betas=[0.9, 0.9]"]);
        Assert.Equal(["data.eval.fraction", "model.num_layers", "optimizer.betas", "optimizer.lr"],
            RecipeLoader.ForbiddenResumeChanges(Saved, requested).Order());
    }

    [Fact]
    public void Adding_or_removing_a_section_is_reported_as_the_section()
    {
        var noEval = Saved with { Data = Saved.Data with { Eval = null } };
        Assert.Equal(["data.eval"], RecipeLoader.ForbiddenResumeChanges(Saved, noEval));
        Assert.Equal(["data.eval"], RecipeLoader.ForbiddenResumeChanges(noEval, Saved));
    }

    [Fact]
    public void A_run_stopped_on_a_nonfinite_step_may_resume_skipping_them()
    {
        var skipping = Saved with { Train = Saved.Train with { OnNonfinite = "skip", MaxSkippedSteps = 5 } };
        Assert.Empty(RecipeLoader.ForbiddenResumeChanges(Saved, skipping));
    }

    [Fact]
    public void Allowed_keys_exist_in_the_schema()
    {
        var text = RecipeLoader.ToYaml(Saved);
        foreach (string key in RecipeLoader.ResumeChangeableKeys)
            Assert.Contains($"{key.Split('.')[^1]}:", text);
    }
}
