using Pretrain.Training.Recipes;

namespace Pretrain.Training.Tests.Recipes;

/// <summary>Keys that a task would silently ignore are refused when the recipe is read, naming the key.</summary>
public sealed class RecipeConsistencyTests
{
    private const string Mlm = "name: x\nmodel: {arch: bert}\nobjective: {kind: mlm}\ntokenizer: {kind: byte, special_tokens: ['[CLS]', '[SEP]', '[MASK]', '[PAD]']}\ndata:\n  train: {synthetic: {}}\n";

    [Fact]
    public void Mlm_refuses_init_instead_of_training_random_weights_under_it()
    {
        var e = Assert.Throws<RecipeException>(() => RecipeLoader.Parse(Mlm + "init: {checkpoint: runs/bert}\n", "x.yaml"));
        Assert.Contains("init", e.Message);
        Assert.Contains("from random weights", e.Message);
    }

    [Fact]
    public void Lora_save_full_is_refused_where_the_task_would_ignore_it()
    {
        const string classify = "name: x\nmodel: {arch: bert}\nobjective: {kind: classify, num_classes: 2}\ninit: {checkpoint: runs/bert}\n" +
            "lora: {rank: 4, targets: [q_proj], save_full: true}\ndata:\n  train: {synthetic: {kind: labelled-text}}\n";
        var e = Assert.Throws<RecipeException>(() => RecipeLoader.Parse(classify, "x.yaml"));
        Assert.Contains("lora.save_full", e.Message);
    }

    [Fact]
    public void Eval_ppl_as_best_metric_is_minimised_without_a_best_mode()
    {
        Assert.Equal("min", RecipeValidator.InferBestMode("eval_ppl"));
        var r = RecipeLoader.Parse("name: x\ndata:\n  train: {synthetic: {}}\ntrain: {best_metric: eval_ppl}\n", "x.yaml");
        Assert.Equal("eval_ppl", r.Train.BestMetric);
    }
}
