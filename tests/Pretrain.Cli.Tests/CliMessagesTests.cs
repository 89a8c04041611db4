namespace Pretrain.Cli.Tests;

/// <summary>Messages that name the right key, flag or limit, and usage errors that exit 2 as --help says (issue 10, defect 6).</summary>
[Collection("torch")]
public sealed class CliMessagesTests
{
    private static readonly string Smoke = Path.Combine(CliRunner.RepoRoot, "recipes", "smoke");

    /// <summary>A Parquet file cut short: its magic at the end is missing.</summary>
    private static string Truncated(TempDir dir)
    {
        var s = CliRunner.Run("data", "synth", "text", "--out", dir["good"], "--rows", "40", "--shards", "1", "--rows-per-group", "10");
        Assert.True(s.Code == 0, s.Err);
        var good = Path.Combine(dir["good"], "part-00000.parquet");
        File.WriteAllBytes(dir["bad.parquet"], File.ReadAllBytes(good)[..3000]);
        return good;
    }

    [Fact]
    public void A_recipe_path_that_is_a_folder_is_called_a_folder()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("run", dir.Path);
        Assert.Equal(1, r.Code);
        Assert.Contains("is a folder, not a recipe file", r.Err, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--holdout", "a-fifth")]
    [InlineData("--batch", "many")]
    public void Malformed_numbers_in_eval_options_are_usage_errors(string option, string value)
    {
        var r = CliRunner.Run("eval", "runs/none", "--data", "x.parquet", option, value);
        Assert.True(r.Code == 2, r.Err);
        Assert.Contains($"{option} must be", r.Err, StringComparison.Ordinal);
    }

    [Fact]
    public void Probe_seq_len_that_is_not_an_integer_is_a_usage_error()
    {
        var r = CliRunner.Run("eval", "runs/none", "--data", "x.parquet", "--probe", "linear", "--seq-len", "long");
        Assert.True(r.Code == 2, r.Err);
    }

    [Fact]
    public void A_bad_train_file_read_for_the_held_out_eval_is_named_as_listed_in_data_train_files()
    {
        using var dir = new TempDir();
        var good = Truncated(dir);
        File.WriteAllText(dir["r.yaml"], $$"""
            name: keys
            model: {arch: gpt2, max_seq_len: 16, embed_dim: 16, num_layers: 1, num_heads: 2}
            tokenizer: {kind: byte}
            data:
              train: {files: ['{{good}}', '{{dir["bad.parquet"]}}']}
              eval: {fraction: 0.2, max_batches: 1}
            train: {max_steps: 2, seq_len: 16, micro_batch_size: 2}
            """);
        var r = CliRunner.Run("run", dir["r.yaml"], "--run-dir", dir["run"]);
        Assert.Equal(1, r.Code);
        Assert.Contains("bad.parquet", r.Err, StringComparison.Ordinal);
        Assert.Contains("remove it from data.train.files", r.Err, StringComparison.Ordinal);
    }

    [Fact]
    public void Eval_and_predict_errors_cite_flags_that_exist()
    {
        using var dir = new TempDir();
        var good = Truncated(dir);
        var run = CliRunner.Run("run", Path.Combine(Smoke, "bert-tiny-classify.yaml"), "--run-dir", dir["cls"], "--set", "init=null", "--set", "lora=null",
            "--set", "tokenizer={kind: byte, special_tokens: ['[CLS]', '[SEP]', '[PAD]']}", "--set", "model.num_layers=1", "--set", "model.embed_dim=16",
            "--set", "model.num_heads=2", "--set", "train.max_steps=1");
        Assert.True(run.Code == 0, run.Err + run.Out);

        var bad = CliRunner.Run("eval", dir["cls"], "--data", dir["bad.parquet"]);
        Assert.Equal(1, bad.Code);
        Assert.Contains("remove it from --data.", bad.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("--data.files", bad.Err, StringComparison.Ordinal);

        var unlabelled = CliRunner.Run("eval", dir["cls"], "--data", good);
        Assert.Equal(1, unlabelled.Code);
        Assert.Contains("Set --label-column", unlabelled.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("--data.label_column", unlabelled.Err, StringComparison.Ordinal);

        var predict = CliRunner.Run("predict", dir["cls"], "--data", dir["bad.parquet"], "--out", dir["p.jsonl"]);
        Assert.Equal(1, predict.Code);
        Assert.DoesNotContain("--data.files", predict.Err, StringComparison.Ordinal);
    }

    [Fact]
    public void Generate_says_when_it_stops_at_the_context_window()
    {
        using var dir = new TempDir();
        var run = CliRunner.Run("run", Path.Combine(Smoke, "gpt-tiny-clm.yaml"), "--run-dir", dir["gpt"], "--set", "train.max_steps=1");
        Assert.True(run.Code == 0, run.Err + run.Out);
        var g = CliRunner.Run("generate", dir["gpt"], "--prompt", "12 + 30 =", "--max-new-tokens", "100");
        Assert.True(g.Code == 0, g.Err);
        Assert.Contains("reached the model's context window (32 tokens)", g.Err, StringComparison.Ordinal);

        var shortOne = CliRunner.Run("generate", dir["gpt"], "--prompt", "12 + 30 =", "--max-new-tokens", "3");
        Assert.DoesNotContain("context window", shortOne.Err, StringComparison.Ordinal);
    }
}
