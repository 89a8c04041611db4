namespace Pretrain.Cli.Tests.Import;

/// <summary>A config.json with absurd sizes is refused with the numbers before libtorch allocates anything.</summary>
[Collection("torch")]
public sealed class ImportModelSizeTests
{
    [Theory]
    [InlineData("n_embd", 1_000_000_000, "model.embed_dim=1000000000")]
    [InlineData("n_layer", 100_000_000, "model.num_layers=100000000")]
    public void Absurd_sizes_in_config_json_are_refused_with_the_numbers(string key, int value, string expected)
    {
        using var dir = new TempDir();
        HfFolders.Write(dir["hf"], "gpt2");
        HfFolders.Rewrite(dir["hf/config.json"], c =>
        {
            c[key] = value;
            c["n_head"] = 2;
            return c;
        });
        var r = CliRunner.Run("import", dir["hf"], "--out", dir["ckpt"]);
        Assert.Equal(1, r.Code);
        Assert.Contains(expected, r.Err, StringComparison.Ordinal);
        Assert.Contains("available", r.Err, StringComparison.Ordinal);
        Assert.Single(r.Err.Trim().Split('\n'));
        Assert.False(Directory.Exists(dir["ckpt"]));
    }
}
