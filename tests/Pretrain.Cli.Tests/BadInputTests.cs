using Parquet;
using Parquet.Schema;

namespace Pretrain.Cli.Tests;

/// <summary>Each kind of bad input exits non-zero with one clear line naming the culprit — never a stack trace.</summary>
[Collection("torch")]
public sealed class BadInputTests
{
    private static string Recipe(TempDir dir, string train, string name = "bad")
    {
        var path = dir[name + ".yaml"];
        File.WriteAllText(path, $$$"""
            name: {{{name}}}
            model: {arch: gpt2, max_seq_len: 16, embed_dim: 16, num_layers: 1, num_heads: 2}
            tokenizer: {kind: byte}
            data:
              train: {{{train}}}
            train: {max_steps: 2, seq_len: 16, micro_batch_size: 2}
            """);
        return path;
    }

    private static void AssertOneClearError((int Code, string Out, string Err) r, params string[] mentions)
    {
        Assert.NotEqual(0, r.Code);
        var lines = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"expected one line on stderr, got:\n{r.Err}");
        Assert.StartsWith("error: ", lines[0]);
        Assert.DoesNotContain("   at ", r.Err);
        foreach (var m in mentions) Assert.Contains(m, lines[0]);
    }

    [Fact]
    public void Misspelt_recipe_key_names_key_line_and_suggestion()
    {
        using var dir = new TempDir();
        var path = dir["typo.yaml"];
        File.WriteAllText(path, "name: typo\ntrain:\n  max_step: 5\n");
        AssertOneClearError(CliRunner.Run("run", path, "--run-dir", dir["run"]), "typo.yaml", "max_step", "max_steps", ":3");
    }

    [Fact]
    public async Task Parquet_file_without_the_text_column()
    {
        using var dir = new TempDir();
        var file = dir["numbers.parquet"];
        var field = new DataField<int>("n");
        await using (var stream = File.Create(file))
        await using (var writer = await ParquetWriter.CreateAsync(new ParquetSchema(field), stream))
        using (var group = writer.CreateRowGroup())
            await group.WriteAsync(field, new ReadOnlyMemory<int>([1, 2, 3]));
        AssertOneClearError(CliRunner.Run("run", Recipe(dir, $"{{files: ['{file}']}}"), "--run-dir", dir["run"]), "numbers.parquet", "text");
    }

    [Fact]
    public void Empty_file()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir["empty.parquet"], []);
        AssertOneClearError(CliRunner.Run("run", Recipe(dir, $"{{files: ['{dir["empty.parquet"]}']}}"), "--run-dir", dir["run"]), "empty.parquet");
    }

    [Fact]
    public void File_that_is_not_parquet()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir["notes.parquet"], "just some text, not a parquet file at all");
        AssertOneClearError(CliRunner.Run("run", Recipe(dir, $"{{files: ['{dir["notes.parquet"]}']}}"), "--run-dir", dir["run"]), "notes.parquet", "Parquet");
    }

    [Fact]
    public void Glob_matching_nothing()
    {
        using var dir = new TempDir();
        AssertOneClearError(CliRunner.Run("run", Recipe(dir, $"{{files: ['{dir.Path}/nothing-*.parquet']}}"), "--run-dir", dir["run"]), "nothing-*.parquet", "data.train.files");
    }

    [Fact]
    public void Missing_recipe_file_and_unknown_option()
    {
        using var dir = new TempDir();
        AssertOneClearError(CliRunner.Run("run", dir["absent.yaml"]), "absent.yaml");
        var r = CliRunner.Run("run", dir["absent.yaml"], "--sett", "a=b");
        Assert.Equal(2, r.Code);
        Assert.Contains("--sett", r.Err);
    }
}
