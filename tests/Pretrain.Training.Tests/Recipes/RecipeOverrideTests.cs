using Pretrain.Training.Recipes;

namespace Pretrain.Training.Tests.Recipes;

/// <summary>--set key.path=value: applied to the YAML tree before binding, so the same checks and messages apply.</summary>
public sealed class RecipeOverrideTests
{
    private const string Base = "name: x\ndata:\n  train:\n    synthetic: {}\ntrain:\n  max_steps: 10\n";

    [Fact]
    public void Scalars_replace_file_values_and_fill_defaults()
    {
        var r = Parse(Base, "train.max_steps=50", "optimizer.lr=1e-3", "model.tie_embeddings=false", "name=other");
        Assert.Equal(50, r.Train.MaxSteps);
        Assert.Equal(1e-3, r.Optimizer.Lr);
        Assert.False(r.Model.TieEmbeddings);
        Assert.Equal("other", r.Name);
    }

    [Fact]
    public void Flow_lists_and_globs()
    {
        var r = Parse("name: x\ndata:\n  train:\n    files: [old.parquet]\n",
            "data.train.files=[a.parquet, b.parquet]", "optimizer.betas=[0.8, 0.9]");
        Assert.Equal(["a.parquet", "b.parquet"], r.Data.Train.Files!);
        Assert.Equal([0.8, 0.9], r.Optimizer.Betas);

        // A bare glob is not valid YAML (* starts an alias): it is taken as a string, and a single value is a list.
        r = Parse("name: x\ndata:\n  train:\n    files: [old.parquet]\n", "data.train.files=*.parquet");
        Assert.Equal(["*.parquet"], r.Data.Train.Files!);
    }

    [Fact]
    public void Creates_missing_sections()
    {
        var r = Parse(Base, "data.eval.fraction=0.1", "data.eval.max_batches=3");
        Assert.Equal(0.1, r.Data.Eval!.Fraction);
        Assert.Equal(3, r.Data.Eval.MaxBatches);

        r = Parse("name: x\ndata:\n  train:\n    files: [a]\n  eval:\n", "data.eval.fraction=0.2");
        Assert.Equal(0.2, r.Data.Eval!.Fraction);

        r = Parse("name: x\n", "data.train.synthetic.rows=10");
        Assert.Equal(10, r.Data.Train.Synthetic!.Rows);

        r = Parse("", "name=from-set", "data.train.synthetic={rows: 8}");
        Assert.Equal("from-set", r.Name);
        Assert.Equal(8, r.Data.Train.Synthetic!.Rows);
    }

    [Fact]
    public void Empty_value_sets_null()
    {
        var r = Parse("name: x\ndata:\n  train:\n    synthetic: {}\n  eval:\n    fraction: 0.1\n", "data.eval=");
        Assert.Null(r.Data.Eval);
    }

    [Theory]
    [InlineData("train.max_step=5", "--set train.max_step=5: unknown key 'train.max_step'. Did you mean 'train.max_steps'?")]
    [InlineData("trian.max_steps=5", "--set trian.max_steps=5: unknown key 'trian'. Did you mean 'train'?")]
    [InlineData("train.max_steps=abc", "--set train.max_steps=abc: train.max_steps must be an integer, got 'abc'")]
    [InlineData("train.max_steps=0", "--set train.max_steps=0: train.max_steps must be at least 1, got 0")]
    [InlineData("optimizer.betas=[0.9, x]", "--set optimizer.betas=[0.9, x]: optimizer.betas[1] must be a number")]
    [InlineData("train.max_steps", "--set train.max_steps: expected key=value with a dotted key, e.g. --set train.max_steps=50")]
    [InlineData("train..max_steps=1", "--set train..max_steps=1: 'train..max_steps' is not a key")]
    [InlineData("=1", "--set =1: '' is not a key")]
    [InlineData("train.max_steps.x=1", "--set train.max_steps.x=1: cannot set 'train.max_steps.x' because 'train.max_steps' is '10', not a section")]
    [InlineData("data.train.files=[a, b", "--set data.train.files=[a, b: invalid YAML value")]
    [InlineData("model=gpt2", "--set model=gpt2: model must be a section")]
    public void Errors_name_the_override(string set, string expected)
    {
        var e = Assert.Throws<RecipeException>(() => Parse(Base, set));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void File_errors_keep_their_lines_next_to_override_errors()
    {
        var e = Assert.Throws<RecipeException>(() => Parse(Base + "  seq_len: x\n", "train.max_step=5"));
        Assert.Contains("t.yaml:7: train.seq_len must be an integer, got 'x'", e.Message);
        Assert.Contains("--set train.max_step=5: unknown key 'train.max_step'", e.Message);
    }

    private static Recipe Parse(string yaml, params string[] overrides) => RecipeLoader.Parse(yaml, "t.yaml", overrides);
}
