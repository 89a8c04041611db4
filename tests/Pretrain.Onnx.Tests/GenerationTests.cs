using Pretrain.Onnx.Export;
using Pretrain.Onnx.Generation;
using Pretrain.Onnx.Runtime;

namespace Pretrain.Onnx.Tests;

[Collection("torch")]
public sealed class GenerationTests
{
    [Theory]
    [InlineData("gpt2")]
    [InlineData("llama")]
    public void Greedy_through_the_ORT_cache_equals_greedy_through_TorchSharp(string arch)
    {
        using var fx = new TinyCheckpoint(arch);
        OnnxExporter.Export(fx.StepDir, fx["past"], new ExportOptions { WithPast = true, Validate = false });
        OnnxExporter.Export(fx.StepDir, fx["plain"], new ExportOptions { Validate = false });
        var options = new GenerationOptions { MaxNewTokens = 40 };
        int[] prompt = [72, 105, 33];

        var torch = TokenGenerator.Generate(TokenGenerator.Torch(fx.Model), prompt, options, null, fx.Config.MaxSeqLen);
        using var past = OnnxDecoderSession.Open(fx["past"]);
        using var cache = past.NewCache(1);
        var cached = TokenGenerator.Generate(TokenGenerator.Onnx(past, cache), prompt, options, null, fx.Config.MaxSeqLen);
        using var plain = OnnxDecoderSession.Open(fx["plain"]);
        var uncached = TokenGenerator.Generate(TokenGenerator.Onnx(plain, null), prompt, options, null, fx.Config.MaxSeqLen);

        Assert.Equal(fx.Config.MaxSeqLen - prompt.Length, torch.Count); // stops at max_seq_len
        Assert.Equal(torch, cached);
        Assert.Equal(torch, uncached);
    }

    [Fact]
    public void Sampling_is_seeded_and_respects_top_k()
    {
        float[] logits = [0f, 5f, 4.9f, -3f, 4.8f];
        var options = new GenerationOptions { Temperature = 1, TopK = 2, Seed = 3 };
        var r1 = new Random(3);
        var r2 = new Random(3);
        var draws1 = Enumerable.Range(0, 200).Select(_ => TokenGenerator.Sample(logits, options, r1)).ToList();
        var draws2 = Enumerable.Range(0, 200).Select(_ => TokenGenerator.Sample(logits, options, r2)).ToList();
        Assert.Equal(draws1, draws2);
        Assert.All(draws1, t => Assert.Contains(t, new[] { 1, 2 }));
        Assert.Contains(2, draws1);
        var nucleus = new GenerationOptions { Temperature = 1, TopP = 0.01 };
        Assert.Equal(1, TokenGenerator.Sample(logits, nucleus, new Random(0)));
    }
}
