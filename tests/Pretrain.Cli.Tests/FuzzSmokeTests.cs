using Pretrain.Fuzz;

namespace Pretrain.Cli.Tests;

/// <summary>
/// A short run of tools/fuzz (300 mutated inputs per target, a fixed seed): no crash, no input over 5 s, peak RSS
/// under 1 GiB. Damaged Parquet pages and footers included: our checks refuse them before Parquet.Net decodes
/// (docs/bounds-and-fuzzing.md), so no exception type of the rule may appear even wrapped.
/// </summary>
[Collection("torch")]
public sealed class FuzzSmokeTests
{
    [Theory]
    [InlineData("parquet")]
    [InlineData("parquet-image")]
    [InlineData("safetensors")]
    [InlineData("recipe")]
    [InlineData("tokenizer")]
    [InlineData("onnx")]
    public void Three_hundred_mutated_inputs_give_no_crash(string name)
    {
        IFuzzTarget target = name switch
        {
            "parquet" => new ParquetTarget(),
            "parquet-image" => new ParquetImageTarget(),
            "safetensors" => new SafetensorsTarget(),
            "recipe" => new RecipeTarget(),
            "tokenizer" => new TokenizerTarget(),
            _ => new OnnxTarget(),
        };
        using var dir = new TempDir();
        var result = FuzzRunner.Run(target, inputs: 300, seed: 11, dir.Path, outDir: null);
        Assert.Equal(300, result.Accepted + result.Refused + result.Crashes);
        Assert.Equal(0, result.OverLimit);
        Assert.True(result.PeakRssBytes < 1L << 30, $"peak RSS {result.PeakRssBytes:N0}");
        Assert.True(result.Crashes == 0, string.Join("\n", result.Signatures.Select(s => $"{s.Value.Count} × {s.Key} — {s.Value.Example}")));
    }
}
