using Pretrain.Models.Peft;
using Pretrain.Models.Sizing;
using Pretrain.Models.Text;
using Pretrain.Models.Vision;
using Pretrain.Models.Weights;

namespace Pretrain.Models.Tests.Sizing;

/// <summary>Parameter counts from configs match the built modules; absurd sizes are refused before any tensor exists.</summary>
[Collection("torch")]
public sealed class ModelMemoryTests
{
    private static long Built(TorchSharp.torch.nn.Module m, bool trainableOnly = false) =>
        m.parameters().Where(p => !trainableOnly || p.requires_grad).Sum(p => p.numel());

    [Theory]
    [InlineData("gpt2", true)]
    [InlineData("gpt2", false)]
    [InlineData("llama", true)]
    [InlineData("llama", false)]
    public void Decoder_count_equals_the_built_model(string arch, bool tie)
    {
        var c = (arch == "llama" ? TinyConfigs.Llama(tie) : TinyConfigs.Gpt2(tie)) with { MlpHiddenDim = arch == "llama" ? null : 48 };
        using var model = new DecoderLm(c);
        Assert.Equal(Built(model), ModelMemory.Count(c, null).Total);
    }

    [Fact]
    public void Encoder_vit_and_mae_counts_equal_the_built_models()
    {
        var bert = new EncoderLmConfig { VocabSize = 50, MaxSeqLen = 16, EmbedDim = 32, NumLayers = 2, NumHeads = 4, Pooler = true };
        using (var encoder = new EncoderLm(bert))
            Assert.Equal(Built(encoder), ModelMemory.Count(bert, null).Total);

        var vit = new VitConfig { ImageSize = 16, PatchSize = 4, NumChannels = 3, EmbedDim = 32, NumLayers = 2, NumHeads = 4 };
        using (var model = new VisionTransformer(vit))
            Assert.Equal(Built(model), ModelMemory.Count(vit, null).Total);

        var mae = new MaeDecoderConfig { EmbedDim = 16, NumLayers = 1, NumHeads = 2 };
        using (var decoder = new MaeDecoder(vit, mae))
            Assert.Equal(Built(decoder), ModelMemory.CountMaeDecoder(vit, mae));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Lora_counts_bound_the_trainable_adapters(bool dora)
    {
        var lora = new LoraConfig { Rank = 4, Targets = ["q_proj", "v_proj", "up_proj"], UseDora = dora };
        var c = TinyConfigs.Gpt2();
        using var model = new DecoderLm(c, lora);
        foreach (var (name, p) in model.named_parameters())
            p.requires_grad = name.Contains("lora_", StringComparison.Ordinal);
        var (total, trainable) = ModelMemory.Count(c, lora);
        long adapters = Built(model, trainableOnly: true);
        Assert.Equal(adapters, trainable);
        Assert.Equal(Built(model), total);
    }

    [Theory]
    [InlineData(1_000_000_000, 2, "model.embed_dim=1000000000")]
    [InlineData(16, 100_000_000, "model.num_layers=100000000")]
    public void Absurd_sizes_are_refused_with_the_numbers(int embedDim, int layers, string key)
    {
        var c = TinyConfigs.Gpt2() with { EmbedDim = embedDim, NumLayers = layers, NumHeads = 2 };
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var e = Assert.Throws<WeightsException>(() => new DecoderLm(c));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"took {clock.Elapsed}");
        Assert.Contains(key, e.Message);
        Assert.Matches(@"needs ~[0-9.]+ [TPE]B", e.Message);
        Assert.Contains("available", e.Message);
    }

    [Fact]
    public void Training_counts_gradients_and_adamw_state()
    {
        // ~1.82e9 parameters: 7.3 GB of weights, 29 GB to train; refused for training on a machine under 29 GB free.
        var c = TinyConfigs.Gpt2() with { EmbedDim = 4096, NumLayers = 8, NumHeads = 32, VocabSize = 50_000 };
        var (total, _) = ModelMemory.Count(c, null);
        Assert.InRange(total, 1.80e9, 1.85e9);
        if (ModelMemory.AvailableCpuBytes() is not { } free || free > total * 16)
            return; // a machine that could train it: nothing to refuse
        using (ModelMemory.Training("cpu"))
        {
            var e = Assert.Throws<WeightsException>(() => new DecoderLm(c));
            Assert.Contains("gradients and AdamW state", e.Message);
        }
    }

    [Fact]
    public void Bytes_are_written_in_decimal_units()
    {
        Assert.Equal("1.28 TB", ModelMemory.Bytes(1.28e12));
        Assert.Equal("512 MB", ModelMemory.Bytes(512e6));
    }
}
