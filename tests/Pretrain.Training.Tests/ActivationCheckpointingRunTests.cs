using Pretrain.Models.Modules;
using Pretrain.Models.Weights;
using Pretrain.Training.Recipes;

namespace Pretrain.Training.Tests;

/// <summary>train.activation_checkpointing through the trainer: every smoke recipe, identical weights, no leak.</summary>
[Collection("torch")]
public sealed class ActivationCheckpointingRunTests
{
    private static readonly string RepoRoot = FindRepoRoot();

    public static TheoryData<string> SmokeRecipes()
    {
        var data = new TheoryData<string>();
        foreach (var f in Directory.EnumerateFiles(Path.Combine(RepoRoot, "recipes", "smoke"), "*.yaml").Order())
            data.Add(Path.GetFileName(f));
        return data;
    }

    [Theory]
    [MemberData(nameof(SmokeRecipes))]
    public void Smoke_recipe_trains_with_activation_checkpointing(string file)
    {
        using var dir = new TempDir();
        string[] sets = ["train.activation_checkpointing=true", "train.max_steps=2", "train.eval_every=2", "train.checkpoint_every=2"];
        var path = Path.Combine(RepoRoot, "recipes", "smoke", file);
        var extra = new List<string>();
        // A recipe that starts from another smoke run (init: runs/<name>) gets that run trained first, checkpointed too.
        if (RecipeLoader.LoadFile(path).Init is { } init && init.Checkpoint.StartsWith("runs/", StringComparison.Ordinal))
        {
            TinyRun.Run(Path.Combine(RepoRoot, "recipes", "smoke", init.Checkpoint["runs/".Length..] + ".yaml"), dir["base"], sets);
            extra.Add($"init.checkpoint={dir["base"]}");
        }
        long before = ActivationCheckpoint.Recomputations;
        var result = TinyRun.Run(path, dir["run"], [.. sets, .. extra]);
        Assert.Equal(2, result.State.Step);
        Assert.True(ActivationCheckpoint.Recomputations - before >= 2, $"{file}: no block was recomputed in backward");
    }

    [Fact]
    public void Checkpointed_run_ends_with_the_weights_of_a_plain_one_under_dropout()
    {
        using var dir = new TempDir();
        var recipe = TinyRun.Recipe(dir, dropout: 0.1, maxSteps: 3);
        TinyRun.Run(recipe, dir["plain"]);
        TinyRun.Run(recipe, dir["ckpt"], ["train.activation_checkpointing=true"]);
        var a = Safetensors.Load(Path.Combine(dir["plain"], "checkpoints", "step-00000003", "model.safetensors"));
        var b = Safetensors.Load(Path.Combine(dir["ckpt"], "checkpoints", "step-00000003", "model.safetensors"));
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        foreach (var (k, t) in a)
            Assert.True(t.allclose(b[k], rtol: 0, atol: 1e-6), $"{k} differs: max |Δ| = {(t - b[k]).abs().max().item<float>()}");
    }

    [Fact]
    public void Live_tensor_count_stays_flat_with_checkpointing()
    {
        using var dir = new TempDir();
        var recipe = TinyRun.Recipe(dir, dropout: 0.1, maxSteps: 30);
        var counter = new TensorCounter();
        TinyRun.Run(recipe, dir["run"], ["train.activation_checkpointing=true", "train.eval_every=100", "train.checkpoint_every=100"], observer: counter);
        Assert.Equal(30, counter.Counts.Count);
        var settled = counter.Counts.Skip(2).ToList();
        Assert.True(settled.Max() == settled.Min(), $"live tensors vary from {settled.Min()} to {settled.Max()}");
    }

    private static string FindRepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            if (File.Exists(Path.Combine(d.FullName, "Pretrain.sln")))
                return d.FullName;
        }
        throw new DirectoryNotFoundException("Pretrain.sln not found above the test binaries.");
    }
}
