using System.Diagnostics;
using System.Text;
using Pretrain.Training.Recipes;

namespace Pretrain.Training.Tests.Recipes;

/// <summary>Work sized by recipe text is bounded: alias bombs and deep nesting are refused quickly, naming the source.</summary>
public sealed class RecipeSizeLimitTests
{
    /// <summary>Anchors a0..a{depth}; each a{k} is a list of ten aliases to a{k-1}: 10^depth nodes once expanded.</summary>
    private static string Bomb(int depth, bool flow)
    {
        var sb = new StringBuilder(flow ? "[&a0 x" : "name: x\nbomb:\n  - &a0 x\n");
        for (int k = 1; k <= depth; k++)
        {
            string aliases = string.Join(", ", Enumerable.Repeat($"*a{k - 1}", 10));
            sb.Append(flow ? $", &a{k} [{aliases}]" : $"  - &a{k} [{aliases}]\n");
        }

        return flow ? sb.Append(']').ToString() : sb.ToString();
    }

    [Fact]
    public void Alias_bomb_in_a_recipe_file_is_refused_in_under_a_second_naming_the_file()
    {
        var clock = Stopwatch.StartNew();
        var e = Assert.Throws<RecipeException>(() => RecipeLoader.Parse(Bomb(9, flow: false), "bomb.yaml"));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"took {clock.Elapsed}");
        Assert.StartsWith("bomb.yaml:", e.Message);
        Assert.Contains("10,000", e.Message);
    }

    [Fact]
    public void Alias_bomb_in_set_is_refused_in_under_a_second_naming_the_key()
    {
        var clock = Stopwatch.StartNew();
        var e = Assert.Throws<RecipeException>(() =>
            RecipeLoader.Parse("name: x\n", "r.yaml", [$"data.train.files={Bomb(9, flow: true)}"]));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"took {clock.Elapsed}");
        Assert.StartsWith("--set data.train.files=", e.Message);
        Assert.Contains("10,000", e.Message);
    }

    [Fact]
    public void Deep_nesting_is_refused_not_a_stack_overflow()
    {
        string deep = new string('[', 5000) + new string(']', 5000);
        var e = Assert.Throws<RecipeException>(() => RecipeLoader.Parse("name: x\n", "r.yaml", [$"optimizer.betas={deep}"]));
        Assert.StartsWith("--set optimizer.betas=", e.Message);
        Assert.Contains("nested", e.Message);

        e = Assert.Throws<RecipeException>(() => RecipeLoader.Parse("name: x\nx: " + deep + "\n", "deep.yaml"));
        Assert.StartsWith("deep.yaml:", e.Message);
    }

    [Fact]
    public void Anchors_and_aliases_of_normal_size_still_work()
    {
        var r = RecipeLoader.Parse("name: x\ndata:\n  train:\n    files: &f [a.parquet, b.parquet]\n  eval:\n    files: *f\n", "r.yaml");
        Assert.Equal(["a.parquet", "b.parquet"], r.Data.Eval!.Files!);
    }

    /// <summary>Fuzz crasher: a value that contains itself made YamlDotNet's AllNodes recurse until it gave up.</summary>
    [Fact]
    public void A_recursive_alias_is_refused_naming_the_key()
    {
        var e = Assert.Throws<RecipeException>(() => RecipeLoader.Parse("name: x\n", "r.yaml", ["data.train.files=&a [*a]"]));
        Assert.StartsWith("--set data.train.files=&a [*a]: the value has an alias *a inside its own anchor", e.Message);
        e = Assert.Throws<RecipeException>(() => RecipeLoader.Parse("name: x\nx: &a [1, *a]\n", "self.yaml"));
        Assert.StartsWith("self.yaml:2:", e.Message);
    }
}
