using Pretrain.Training.Recipes;

namespace Pretrain.Cli.Tests;

/// <summary>Every recipe file loads; every smoke recipe trains to completion through the CLI.</summary>
[Collection("torch")]
public sealed class RecipeFilesTests
{
    public static TheoryData<string> AllRecipes()
    {
        var data = new TheoryData<string>();
        foreach (var f in Directory.EnumerateFiles(Path.Combine(CliRunner.RepoRoot, "recipes"), "*.yaml", SearchOption.AllDirectories).Order())
            data.Add(Path.GetRelativePath(CliRunner.RepoRoot, f));
        return data;
    }

    public static TheoryData<string> SmokeRecipes()
    {
        var data = new TheoryData<string>();
        foreach (var f in Directory.EnumerateFiles(Path.Combine(CliRunner.RepoRoot, "recipes", "smoke"), "*.yaml").Order())
            data.Add(Path.GetRelativePath(CliRunner.RepoRoot, f));
        return data;
    }

    [Theory]
    [MemberData(nameof(AllRecipes))]
    public void Recipe_loads_and_states_its_command(string relative)
    {
        var path = Path.Combine(CliRunner.RepoRoot, relative);
        var recipe = RecipeLoader.LoadFile(path);
        Assert.False(string.IsNullOrWhiteSpace(recipe.Name));
        var lines = File.ReadLines(path).Take(2).ToList();
        Assert.True(lines.Count == 2 && lines[0].StartsWith('#') && lines[1].StartsWith("# pretrain ", StringComparison.Ordinal),
            $"{relative} must start with two comment lines: what it trains, then the exact command");
        Assert.Contains(relative.Replace('\\', '/'), lines[1]);
    }

    [Theory]
    [MemberData(nameof(SmokeRecipes))]
    public void Smoke_recipe_trains(string relative)
    {
        using var dir = new TempDir();
        var path = Path.Combine(CliRunner.RepoRoot, relative);
        var args = new List<string> { "run", path, "--run-dir", dir["run"] };
        // A recipe that starts from another smoke run's checkpoint (init: runs/<name>) gets that run trained first.
        if (RecipeLoader.LoadFile(path).Init is { } init && init.Checkpoint.StartsWith("runs/", StringComparison.Ordinal))
        {
            var baseRecipe = Path.Combine(CliRunner.RepoRoot, "recipes", "smoke", init.Checkpoint["runs/".Length..] + ".yaml");
            var b = CliRunner.Run("run", baseRecipe, "--run-dir", dir["base"]);
            Assert.True(b.Code == 0, b.Err + b.Out);
            args.AddRange(["--set", $"init.checkpoint={dir["base"]}"]);
        }
        var r = CliRunner.Run([.. args]);
        Assert.True(r.Code == 0, r.Err + r.Out);
        Assert.True(File.Exists(Path.Combine(dir["run"], "summary.json")));
        Assert.True(File.Exists(Path.Combine(dir["run"], "checkpoints", "latest")));
    }
}
