using Pretrain.Training.Recipes;

namespace Pretrain.Training.Tests.Recipes;

/// <summary>data.document_mask and data.train.shuffle_window: parsed, defaulted, accepted for every train stream, and refused where they do nothing.</summary>
public sealed class PackingRecipeTests
{
    [Fact]
    public void KeysParseAndDefault()
    {
        var plain = RecipeLoader.Parse("name: x\ndata:\n  train:\n    synthetic: {}\n", "recipes/x.yaml", []);
        Assert.False(plain.Data.DocumentMask);
        Assert.Equal(1, plain.Data.Train.ShuffleWindow);
        var set = RecipeLoader.Parse("name: x\ndata:\n  document_mask: true\n  train:\n    synthetic: {}\n    shuffle_window: 4\n", "recipes/x.yaml", []);
        Assert.True(set.Data.DocumentMask);
        Assert.Equal(4, set.Data.Train.ShuffleWindow);
    }

    [Theory]
    [InlineData("    shuffle_window: 0\n", "", "data.train.shuffle_window must be at least 1")]
    [InlineData("", "objective: {kind: mlm}\nmodel: {arch: bert}\ndata.document_mask: true\n", "data.document_mask applies to objective.kind clm")]
    public void BadValuesNameTheKey(string trainLines, string extra, string expected)
    {
        string yaml = "name: x\n" + extra.Replace("data.document_mask: true\n", "", StringComparison.Ordinal) + "data:\n" +
            (extra.Contains("document_mask", StringComparison.Ordinal) ? "  document_mask: true\n" : "") + "  train:\n    synthetic: {}\n" + trainLines;
        var e = Assert.Throws<RecipeException>(() => RecipeLoader.Parse(yaml, "recipes/x.yaml", []));
        Assert.Contains(expected, e.Message);
        Assert.Contains("recipes/x.yaml", e.Message);
    }

    [Theory]
    [InlineData("recipes/finetune/minilm-lora-classify.yaml")]
    [InlineData("recipes/finetune/vit-lora-classify.yaml")]
    [InlineData("recipes/smoke/bert-tiny-simcse.yaml")]
    [InlineData("recipes/smoke/gpt-tiny-sft.yaml")]
    [InlineData("recipes/smoke/vit-tiny-mae.yaml")]
    public void ShuffleWindowIsAcceptedForRowStreamsAndRefusedBelowOne(string recipe)
    {
        string path = Path.Combine(RepoRoot(), recipe);
        var r = RecipeLoader.Parse(File.ReadAllText(path), path, ["data.train.shuffle_window=8"]);
        Assert.Equal(8, r.Data.Train.ShuffleWindow);
        var e = Assert.Throws<RecipeException>(() => RecipeLoader.Parse(File.ReadAllText(path), path, ["data.train.shuffle_window=0"]));
        Assert.Contains("data.train.shuffle_window must be at least 1", e.Message);
    }

    private static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Pretrain.sln")))
            dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("Pretrain.sln not found above " + AppContext.BaseDirectory);
    }

    [Fact]
    public void EvalShuffleWindowIsRefused()
    {
        var e = Assert.Throws<RecipeException>(() => RecipeLoader.Parse(
            "name: x\ndata:\n  train:\n    synthetic: {}\n  eval:\n    fraction: 0.1\n    shuffle_window: 3\n", "recipes/x.yaml", []));
        Assert.Contains("data.eval.shuffle_window applies to data.train only", e.Message);
    }
}
