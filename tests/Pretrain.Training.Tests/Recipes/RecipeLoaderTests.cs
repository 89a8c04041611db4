using Pretrain.Training.Recipes;

namespace Pretrain.Training.Tests.Recipes;

/// <summary>YAML → Recipe: defaults, types, round trip through ToYaml.</summary>
public sealed class RecipeLoaderTests
{
    private const string Full = """
        # what it trains; the command
        name: tiny-clm
        model:
          arch: llama
          vocab_size: 320
          max_seq_len: 64
          embed_dim: 32
          num_layers: 2
          num_heads: 4
          num_kv_heads: 2
          dropout: 0.1
          tie_embeddings: false
          norm_eps: 1e-6
          bias: false
        tokenizer:
          kind: tiktoken
          name: gpt2
          eos_token: "<|endoftext|>"
        data:
          train:
            files: [a.parquet, "b c.parquet", "*.parquet"]
            text_column: content
          eval:
            fraction: 0.05
            max_batches: 4
          prefetch: 2
        optimizer:
          lr: 3e-4
          betas: [0.9, 0.99]
          eps: 1.0e-8
        schedule:
          kind: linear
          warmup_steps: 0
          min_lr_ratio: 0
        train:
          max_steps: 50
          seq_len: 32
          precision: bf16-mixed
          device: cuda:1
          threads: 2
        """;

    [Fact]
    public void Minimal_recipe_gets_the_documented_defaults()
    {
        var r = RecipeLoader.Parse("name: x\ndata:\n  train:\n    synthetic: {}\n", "x.yaml");
        Assert.Equal("x", r.Name);
        Assert.Equal("gpt2", r.Model.Arch);
        Assert.Equal(1024, r.Model.MaxSeqLen);
        Assert.Null(r.Model.VocabSize);
        Assert.Equal(6e-4, r.Optimizer.Lr);
        Assert.Equal([0.9, 0.95], r.Optimizer.Betas);
        Assert.Equal(1000, r.Train.MaxSteps);
        Assert.Equal(4000, r.Data.Train.Synthetic!.Rows);
        Assert.Null(r.Data.Train.Files);
        Assert.Null(r.Data.Eval);
    }

    [Fact]
    public void Full_recipe_binds_every_type()
    {
        var r = RecipeLoader.Parse(Full, "full.yaml");
        Assert.Equal("llama", r.Model.Arch);
        Assert.Equal(320, r.Model.VocabSize);
        Assert.Equal(2, r.Model.NumKvHeads);
        Assert.False(r.Model.TieEmbeddings);
        Assert.False(r.Model.Bias);
        Assert.Equal(1e-6, r.Model.NormEps);
        Assert.Equal(["a.parquet", "b c.parquet", "*.parquet"], r.Data.Train.Files!);
        Assert.Equal("content", r.Data.Train.TextColumn);
        Assert.Equal(0.05, r.Data.Eval!.Fraction);
        Assert.Equal(3e-4, r.Optimizer.Lr);
        Assert.Equal(1e-8, r.Optimizer.Eps);
        Assert.Equal([0.9, 0.99], r.Optimizer.Betas);
        Assert.Equal(0.0, r.Schedule.MinLrRatio);
        Assert.Equal("cuda:1", r.Train.Device);
    }

    [Fact]
    public void Single_value_where_a_list_is_expected_is_a_one_item_list()
    {
        var r = RecipeLoader.Parse("name: x\ndata:\n  train:\n    files: /data/shards/*.parquet\n", "x.yaml");
        Assert.Equal(["/data/shards/*.parquet"], r.Data.Train.Files!);
    }

    [Theory]
    [InlineData(Full)]
    [InlineData("name: x\ndata:\n  train:\n    synthetic: {}\n")]
    [InlineData("name: \"1e-3\"\ntokenizer:\n  eos_token: \"null\"\ndata:\n  train:\n    files: [\"true\", \"a: b\", \"x\\ty\", \"#c\"]\n")]
    public void ToYaml_round_trips_to_an_equal_recipe(string yaml)
    {
        var r = Parse(yaml);
        string text = RecipeLoader.ToYaml(r);
        var again = RecipeLoader.Parse(text, "resolved.yaml");
        Assert.Empty(RecipeLoader.Differences(r, again));
        Assert.Equal(text, RecipeLoader.ToYaml(again));
    }

    [Fact]
    public void ToYaml_writes_every_key_snake_case_with_defaults()
    {
        string text = RecipeLoader.ToYaml(RecipeLoader.Parse("name: x\ndata:\n  train:\n    synthetic: {}\n", "x.yaml"));
        Assert.Contains("name: x\n", text);
        Assert.Contains("\n  max_steps: 1000\n", text);
        Assert.Contains("\n  betas: [0.9, 0.95]\n", text);
        Assert.Contains("\n  lr: 0.0006\n", text);
        Assert.Contains("\n  vocab_size: null\n", text);
        Assert.Contains("\n  eval: null\n", text);
        Assert.Contains("\n    files: null\n", text);
        Assert.Contains("\n      rows_per_group: 250\n", text);
        Assert.Contains("\n  rope_theta: 10000.0\n", text);
    }

    [Fact]
    public void Differences_finds_changed_lists_values_and_sections()
    {
        var a = Parse(Full);
        var b = a with
        {
            Optimizer = a.Optimizer with { Betas = [0.9, 0.95] },
            Data = a.Data with { Eval = null, Prefetch = 3 },
        };
        Assert.Equal(["data.eval", "data.prefetch", "optimizer.betas"], RecipeLoader.Differences(a, b).Order());
        Assert.Empty(RecipeLoader.Differences(a, a with { Optimizer = a.Optimizer with { Betas = [0.9, 0.99] } }));
    }

    [Fact]
    public void LoadFile_reads_a_file_and_names_a_missing_one()
    {
        string dir = Directory.CreateTempSubdirectory("recipe-").FullName;
        try
        {
            string path = Path.Combine(dir, "r.yaml");
            File.WriteAllText(path, "name: from-file\ndata:\n  train:\n    synthetic: {}\n");
            Assert.Equal("from-file", RecipeLoader.LoadFile(path).Name);
            Assert.Equal(7, RecipeLoader.LoadFile(path, ["train.max_steps=7"]).Train.MaxSteps);

            var e = Assert.Throws<RecipeException>(() => RecipeLoader.LoadFile(Path.Combine(dir, "nope.yaml")));
            Assert.Contains("nope.yaml: recipe file not found", e.Message);
            e = Assert.Throws<RecipeException>(() => RecipeLoader.LoadFile(dir));
            Assert.Contains("is a folder; pass a recipe file", e.Message);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Validate_accepts_a_recipe_built_in_code()
    {
        RecipeLoader.Validate(new Recipe { Name = "code", Data = new DataSection { Train = new DataSplit { Files = ["a.parquet"] } } });
        var e = Assert.Throws<RecipeException>(() => RecipeLoader.Validate(new Recipe { Name = "code" }));
        Assert.Contains("recipe: data.train needs exactly one of files or synthetic; got none", e.Message);
    }

    private static Recipe Parse(string yaml) => RecipeLoader.Parse(yaml, "t.yaml");
}
