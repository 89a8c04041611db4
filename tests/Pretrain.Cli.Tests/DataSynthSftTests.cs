using Parquet;

namespace Pretrain.Cli.Tests;

/// <summary>`pretrain data synth sft`: prompt/response shards, deterministic per seed.</summary>
[Collection("torch")]
public sealed class DataSynthSftTests
{
    [Fact]
    public async Task Synth_sft_writes_prompt_response_shards_deterministically()
    {
        using var dir = new TempDir();
        var a = CliRunner.Run("data", "synth", "sft", "--out", dir["a"], "--rows", "30", "--shards", "3", "--rows-per-group", "4", "--seed", "2");
        var b = CliRunner.Run("data", "synth", "sft", "--out", dir["b"], "--rows", "30", "--shards", "3", "--rows-per-group", "4", "--seed", "2");
        var c = CliRunner.Run("data", "synth", "sft", "--out", dir["c"], "--rows", "30", "--shards", "3", "--rows-per-group", "4", "--seed", "3");
        Assert.True(a.Code == 0, a.Err + a.Out);
        Assert.Contains("wrote 30 rows in 3 file(s)", a.Out);
        string[] Files(string d) => Directory.GetFiles(dir[d], "part-*.parquet").Order().ToArray();
        Assert.Equal(3, Files("a").Length);
        Assert.Equal(Files("a").Select(File.ReadAllBytes), Files("b").Select(File.ReadAllBytes));
        Assert.NotEqual(Files("a").Select(File.ReadAllBytes), Files("c").Select(File.ReadAllBytes));

        await using var stream = File.OpenRead(Files("a")[0]);
        await using var reader = await ParquetReader.CreateAsync(stream);
        Assert.Equal(["prompt", "response"], reader.Schema.Fields.Select(f => f.Name));
        Assert.Equal(3, reader.RowGroupCount);   // 10 rows, 4 per group

        var bad = CliRunner.Run("data", "synth", "pairs", "--out", dir["d"]);
        Assert.NotEqual(0, bad.Code);
        Assert.Contains("supported: text, sft", bad.Err + bad.Out);
    }
}
