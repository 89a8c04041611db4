using Pretrain.Training.Recipes;

namespace Pretrain.Training.Tests.Recipes;

/// <summary>Every user error names the file, the dotted key, the line, and what to write instead.</summary>
public sealed class RecipeErrorTests
{
    private const string Base = "name: x\ndata:\n  train:\n    synthetic: {}\n";

    [Fact]
    public void Unknown_key_names_line_and_suggests_the_nearest_key()
    {
        var e = Fail("name: x\ntrain:\n  max_step: 5\n");
        Assert.Equal("recipes/x.yaml:3: unknown key 'train.max_step'. Did you mean 'train.max_steps'?", e.Problems.Single());
    }

    [Theory]
    [InlineData("train:\n  MaxSteps: 5\n", "'train.MaxSteps'. Did you mean 'train.max_steps'?")]
    [InlineData("train:\n  lr: 0.1\n", "'train.lr'. Did you mean 'optimizer.lr'?")]
    [InlineData("modle:\n  arch: gpt2\n", "'modle'. Did you mean 'model'?")]
    [InlineData("train:\n  zzzzzz: 1\n", "'train.zzzzzz'. Keys in 'train': max_steps, seq_len,")]
    public void Unknown_key_suggestions(string yaml, string expected)
    {
        var e = Fail(Base + yaml);
        Assert.Contains(expected, e.Message);
    }

    [Theory]
    [InlineData("train:\n  max_steps: abc\n", "recipes/x.yaml:6: train.max_steps must be an integer, got 'abc'")]
    [InlineData("train:\n  max_steps: 1.5\n", "recipes/x.yaml:6: train.max_steps must be an integer, got '1.5'")]
    [InlineData("train:\n  max_steps: 99999999999\n", "train.max_steps must be an integer between -2147483648 and 2147483647")]
    [InlineData("train:\n  max_steps: \"5\"\n", "train.max_steps must be an integer, got the quoted string '5' (remove the quotes)")]
    [InlineData("optimizer:\n  lr: fast\n", "recipes/x.yaml:6: optimizer.lr must be a number (e.g. 0.1, 6e-4), got 'fast'")]
    [InlineData("optimizer:\n  lr: 1,5\n", "optimizer.lr must be a number")]
    [InlineData("model:\n  tie_embeddings: yes\n", "recipes/x.yaml:6: model.tie_embeddings must be true or false, got 'yes'")]
    [InlineData("optimizer:\n  betas: [0.9, x]\n", "recipes/x.yaml:6: optimizer.betas[1] must be a number")]
    [InlineData("optimizer:\n  betas:\n    - 0.9\n    - x\n", "recipes/x.yaml:8: optimizer.betas[1] must be a number")]
    [InlineData("train:\n  max_steps: ~\n", "train.max_steps must be an integer, got null (remove the key to use the default)")]
    public void Wrong_type_names_key_line_and_value(string yaml, string expected)
    {
        var e = Fail(Base + yaml);
        Assert.Contains(expected, e.Message);
    }

    [Theory]
    [InlineData("model: gpt2\n", "recipes/x.yaml:5: model must be a section (a mapping with keys such as arch,")]
    [InlineData("model: [1, 2]\n", "model must be a section (a mapping with keys such as arch, vocab_size, max_seq_len, embed_dim), got a list")]
    [InlineData("train:\n  max_steps:\n    a: 1\n", "recipes/x.yaml:6: train.max_steps must be an integer, got a mapping")]
    [InlineData("optimizer:\n  betas: {a: 1}\n", "optimizer.betas must be a list of numbers, e.g. [0.9, 0.95], got a mapping")]
    [InlineData("model:\n  arch: [gpt2]\n", "model.arch must be a string, got a list")]
    public void Section_versus_value_mismatch(string yaml, string expected)
    {
        var e = Fail(Base + yaml);
        Assert.Contains(expected, e.Message);
    }

    [Theory]   // crashers of tools/fuzz (seed 21): YamlDotNet's tree loader threw a bare ArgumentException on them
    [InlineData("name: tiny\ndata:\n  train: {synthetic: {rows: 10}}\n<<key: \"\\u0000\"*a\n", "x.yaml:4: the alias *a refers to no anchor")]
    [InlineData("name: *tinyQame: *tiny\n", "x.yaml:1: the alias *tinyQame: refers to no anchor")]
    public void An_alias_without_its_anchor_names_the_line(string yaml, string expected)
    {
        var e = Assert.Throws<RecipeException>(() => RecipeLoader.Parse(yaml, "x.yaml"));
        Assert.Contains(expected, e.Message);
    }

    [Theory]   // crashers of tools/fuzz (100k, seed 21): YamlDotNet threw a bare ArgumentException that named no file
    [InlineData("name: tiny\nmodel: !!bina]AAAA:\n  train: {synthetic: {rows: 10}}\n", "x.yaml:2: invalid YAML: Global tags must be valid URIs")]
    [InlineData("name: tiny\ndata:\n  : 4}\nsets: \n", "invalid YAML that YamlDotNet cannot load")]
    [InlineData("name: tiny\ndata:\n  : 10}}\ntrain: {max_steps: 4}\n", "invalid YAML that YamlDotNet cannot load")]
    public void Yaml_the_parser_rejects_with_an_argument_error_is_one_line_naming_the_file(string yaml, string expected)
    {
        var e = Assert.Throws<RecipeException>(() => RecipeLoader.Parse(yaml, "x.yaml"));
        Assert.Contains(expected, e.Message);
        Assert.StartsWith("x.yaml:", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Missing_required_name()
    {
        var e = Fail("model:\n  arch: gpt2\ndata:\n  train:\n    synthetic: {}\n");
        Assert.Equal("recipes/x.yaml: missing required key 'name'; add it at the top of the file", e.Problems.Single());
        Assert.Contains("missing required key 'name'", Fail("").Message);
        Assert.Contains("missing required key 'name'", Fail("# only a comment\n").Message);
    }

    [Fact]
    public void Duplicate_key_names_path_and_both_lines()
    {
        var e = Fail(Base + "train:\n  max_steps: 5\n  seq_len: 8\n  max_steps: 6\n");
        Assert.Equal("recipes/x.yaml:8: duplicate key 'train.max_steps' (already set at line 6); keep one of them.", e.Message);
    }

    [Fact]
    public void Same_key_in_different_sections_is_not_a_duplicate()
    {
        var r = RecipeLoader.Parse("name: x\ndata:\n  train:\n    synthetic: {seed: 1}\n  eval:\n    synthetic: {seed: 2}\ntrain:\n  seed: 3\n", "x.yaml");
        Assert.Equal(2, r.Data.Eval!.Synthetic!.Seed);
    }

    [Theory]
    [InlineData("name: x\ntrain:\n  max_steps: 5\n   seq_len: 3\n", "recipes/x.yaml:4: invalid YAML:")]
    [InlineData("name: x\ntrain: {max_steps: 5\n", "recipes/x.yaml:3: invalid YAML:")]
    [InlineData("name: x\ntrain:\n  seq_len: [1, 2\n  max_steps: 3\n", "recipes/x.yaml:3: invalid YAML after this line (is a '[' or '{' left unclosed?)")]
    [InlineData("name: 'x\n", "recipes/x.yaml:1: invalid YAML:")]
    [InlineData("name: x\n---\nname: y\n", "recipes/x.yaml:2: a recipe file holds one YAML document")]
    [InlineData("- a\n- b\n", "recipes/x.yaml:1: a recipe must be a mapping of keys (name, model, data, train, ...), got a list")]
    public void Yaml_syntax_errors_name_file_and_line(string yaml, string expected)
    {
        var e = Fail(yaml);
        Assert.StartsWith(expected, e.Message);
    }

    [Fact]
    public void All_binding_problems_are_reported_together()
    {
        var e = Fail(Base + "train:\n  max_step: 5\n  seq_len: x\nmodel:\n  arhc: gpt2\n");
        Assert.Equal(3, e.Problems.Count);
        Assert.Equal(string.Join('\n', e.Problems), e.Message);
    }

    [Theory]
    [InlineData("train:\n  max_steps: 0\n", "recipes/x.yaml:6: train.max_steps must be at least 1, got 0")]
    [InlineData("train:\n  micro_batch_size: -1\n", "recipes/x.yaml:6: train.micro_batch_size must be at least 1, got -1")]
    [InlineData("train:\n  grad_accum_steps: 0\n", "train.grad_accum_steps must be at least 1, got 0")]
    [InlineData("train:\n  seq_len: 1\n", "train.seq_len must be at least 2, got 1")]
    [InlineData("model:\n  embed_dim: 0\n", "model.embed_dim must be at least 1, got 0")]
    [InlineData("model:\n  arch: bart\n", "recipes/x.yaml:6: model.arch must be one of gpt2, llama, bert, vit; got 'bart'")]
    [InlineData("model:\n  arch: bert\n", "objective.kind 'clm' trains model.arch gpt2 or llama, but model.arch is 'bert'")]
    [InlineData("objective:\n  kind: mim\n", "objective.kind must be one of clm, mlm, mae, simclr, simcse, classify, sft, distill; got 'mim'")]
    [InlineData("objective:\n  kind: mae\n", "objective.kind 'mae' trains model.arch vit, but model.arch is 'gpt2'")]
    [InlineData("tokenizer:\n  kind: bep\n", "tokenizer.kind must be one of byte, tiktoken, wordpiece, sentencepiece, bpe, hf-json; got 'bep'")]
    [InlineData("tokenizer:\n  kind: bpe\n", "tokenizer.path is required when tokenizer.kind is bpe")]
    [InlineData("tokenizer:\n  kind: tiktoken\n", "recipes/x.yaml: tokenizer.name is required when tokenizer.kind is tiktoken")]
    [InlineData("schedule:\n  kind: step\n", "schedule.kind must be one of cosine, linear, constant; got 'step'")]
    [InlineData("train:\n  precision: fp16\n", "train.precision must be one of fp32, bf16-mixed, fp16-mixed, bf16, auto; got 'fp16'")]
    [InlineData("train:\n  device: gpu\n", "train.device must be auto (cuda when available, else cpu), cpu, cuda or cuda:N")]
    [InlineData("optimizer:\n  name: sgd\n", "optimizer.name must be one of adamw; got 'sgd'")]
    [InlineData("optimizer:\n  lr: 0\n", "recipes/x.yaml:6: optimizer.lr must be > 0, got 0")]
    [InlineData("optimizer:\n  lr: .nan\n", "optimizer.lr must be > 0, got NaN")]
    [InlineData("model:\n  dropout: 1\n", "model.dropout must be in [0, 1), got 1")]
    [InlineData("optimizer:\n  betas: [0.9]\n", "optimizer.betas must be two numbers in [0, 1), e.g. [0.9, 0.95]; got [0.9]")]
    [InlineData("optimizer:\n  betas: [0.9, 1.0]\n", "optimizer.betas must be two numbers in [0, 1)")]
    [InlineData("schedule:\n  min_lr_ratio: 1.5\n", "schedule.min_lr_ratio must be in [0, 1], got 1.5")]
    [InlineData("train:\n  seq_len: 2048\n", "recipes/x.yaml:6: train.seq_len must be at most model.max_seq_len (1024), got 2048")]
    [InlineData("model:\n  max_seq_len: 128\n", "recipes/x.yaml: train.seq_len must be at most model.max_seq_len (128), got 256 (the default)")]
    [InlineData("model:\n  embed_dim: 100\n", "model.embed_dim must be divisible by model.num_heads (12), got 100")]
    public void Value_checks_name_key_line_and_allowed_values(string yaml, string expected)
    {
        var e = Fail(Base + yaml);
        Assert.Contains(expected, e.Message);
    }

    [Theory]
    [InlineData("data:\n  train:\n    text_column: t\n", "recipes/x.yaml:3: data.train needs exactly one of files or synthetic; got none")]
    [InlineData("data:\n  train:\n    files: [a]\n    synthetic: {}\n", "recipes/x.yaml:3: data.train needs exactly one of files or synthetic; got files and synthetic")]
    [InlineData("data:\n  train:\n    files: [a]\n  eval:\n    files: [b]\n    fraction: 0.1\n", "data.eval needs exactly one of files, synthetic or fraction; got files and fraction")]
    [InlineData("data:\n  train:\n    files: [a]\n    fraction: 0.1\n", "data.train.fraction applies to data.eval only")]
    [InlineData("data:\n  train:\n    synthetic: {}\n  eval:\n    fraction: 1\n", "recipes/x.yaml:6: data.eval.fraction must be in (0, 1), got 1")]
    [InlineData("data:\n  train:\n    synthetic: {kind: audio}\n", "data.train.synthetic.kind must be one of text, labelled-text, images, sft; got 'audio'")]
    public void Data_source_rules(string yaml, string expected)
    {
        var e = Fail("name: x\n" + yaml);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Name_must_be_usable_as_a_folder()
    {
        var e = Fail("name: a/b\ndata:\n  train:\n    synthetic: {}\n");
        Assert.Equal("recipes/x.yaml:1: name must be a folder-safe name (letters, digits, '.', '_', '-'; it names the run folder), got 'a/b'", e.Message);
    }

    [Fact]
    public void Chat_template_is_one_of_the_known_formats_and_only_for_sft()
    {
        var r = RecipeLoader.Parse(Base + "objective:\n  kind: sft\ntokenizer:\n  chat_template: qwen\n", "recipes/x.yaml");
        Assert.Equal("qwen", r.Tokenizer.ChatTemplate);
        Assert.Contains("tokenizer.chat_template", Fail(Base + "objective:\n  kind: sft\ntokenizer:\n  chat_template: chatml\n").Message);
        Assert.Contains("llama3", Fail(Base + "objective:\n  kind: sft\ntokenizer:\n  chat_template: chatml\n").Message);
        Assert.Contains("objective.kind 'clm' does not use it", Fail(Base + "objective:\n  kind: clm\ntokenizer:\n  chat_template: llama3\n").Message);
    }

    private static RecipeException Fail(string yaml, params string[] overrides) =>
        Assert.Throws<RecipeException>(() => RecipeLoader.Parse(yaml, "recipes/x.yaml", overrides));
}
