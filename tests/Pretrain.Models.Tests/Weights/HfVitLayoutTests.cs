using System.Text.Json.Nodes;
using Pretrain.Models.Heads;
using Pretrain.Models.Vision;
using Pretrain.Models.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Models.Tests.Weights;

[Collection("torch")]
public sealed class HfVitLayoutTests
{
    [Theory]
    [InlineData(true, true, "learned")]
    [InlineData(false, true, "learned")]
    [InlineData(true, false, "sincos")]
    public void ToHf_then_LoadHf_gives_identical_outputs(bool taskPrefix, bool classToken, string posEmbed)
    {
        using var dir = new TempDir();
        using var scope = torch.NewDisposeScope();
        var config = TinyEncoderConfigs.Vit(classToken, posEmbed);
        var (source, sourceHead) = Build(config, 1);
        var (target, targetHead) = Build(config, 2);
        var path = dir.File("model.safetensors");
        Safetensors.Save(path, HfVitLayout.ToHf(source, sourceHead, taskPrefix: taskPrefix));
        var loaded = Safetensors.Load(path);
        Assert.Equal(taskPrefix, loaded.ContainsKey("vit.embeddings.position_embeddings"));
        Assert.Empty(HfVitLayout.LoadHf(target, loaded, targetHead));

        var images = torch.randn(2, 3, 16, 16);
        using var _ = torch.no_grad();
        var (a, b) = (source.call(images), target.call(images));
        Assert.True(a.equal(b).all().item<bool>());
        Assert.True(sourceHead.call(source.Pool(a)).equal(targetHead.call(target.Pool(b))).all().item<bool>());
    }

    [Fact]
    public void Vit_names()
    {
        using var scope = torch.NewDisposeScope();
        var (model, head) = Build(TinyEncoderConfigs.Vit(), 3);
        var hf = HfVitLayout.ToHf(model, head);
        foreach (var n in new[] { "vit.embeddings.cls_token", "vit.embeddings.position_embeddings", "vit.embeddings.patch_embeddings.projection.weight",
                     "vit.embeddings.patch_embeddings.projection.bias", "vit.encoder.layer.1.layernorm_before.weight",
                     "vit.encoder.layer.1.attention.attention.query.weight", "vit.encoder.layer.1.attention.attention.key.bias",
                     "vit.encoder.layer.1.attention.attention.value.weight", "vit.encoder.layer.1.attention.output.dense.bias",
                     "vit.encoder.layer.1.layernorm_after.bias", "vit.encoder.layer.1.intermediate.dense.weight",
                     "vit.encoder.layer.1.output.dense.weight", "vit.layernorm.weight", "vit.layernorm.bias", "classifier.weight", "classifier.bias" })
            Assert.Contains(n, hf.Keys);
        Assert.Equal(4 + 2 * 16 + 2 + 2, hf.Count);
        Assert.Equal(new long[] { 1, 1, 32 }, hf["vit.embeddings.cls_token"].shape);
        Assert.Equal(new long[] { 1, 17, 32 }, hf["vit.embeddings.position_embeddings"].shape);
        Assert.Equal(new long[] { 32, 3, 4, 4 }, hf["vit.embeddings.patch_embeddings.projection.weight"].shape);
    }

    [Fact]
    public void Mae_decoder_round_trips_under_its_own_names()
    {
        using var scope = torch.NewDisposeScope();
        var config = TinyEncoderConfigs.Vit(posEmbed: "sincos");
        var (source, _) = Build(config, 4);
        using var sourceDecoder = new MaeDecoder(config, TinyEncoderConfigs.MaeDecoder());
        TestWeights.Randomize(sourceDecoder, 5);
        var hf = HfVitLayout.ToHf(source, decoder: sourceDecoder);
        Assert.Contains("decoder.mask_token", hf.Keys);
        Assert.Contains("decoder.blocks.0.attn.q_proj.weight", hf.Keys);
        Assert.Contains("decoder.pos_embed", hf.Keys);

        var (target, _) = Build(config, 6);
        using var targetDecoder = new MaeDecoder(config, TinyEncoderConfigs.MaeDecoder());
        HfVitLayout.LoadHf(target, hf, decoder: targetDecoder);
        var keep = torch.tensor(new long[,] { { 0, 5, 9, 12 } });
        var restore = torch.argsort(torch.tensor(new long[,] { { 0, 5, 9, 12, 1, 2, 3, 4, 6, 7, 8, 10, 11, 13, 14, 15 } }), 1);
        var images = torch.randn(1, 3, 16, 16);
        using var _ = torch.no_grad();
        source.eval(); target.eval(); sourceDecoder.eval(); targetDecoder.eval();
        var a = sourceDecoder.call(source.ForwardVisible(images, keep), restore);
        var b = targetDecoder.call(target.ForwardVisible(images, keep), restore);
        Assert.True(a.equal(b).all().item<bool>());

        // An encoder alone loads from the MAE checkpoint, skipping the decoder.
        var (alone, _) = Build(config, 7);
        Assert.All(HfVitLayout.LoadHf(alone, hf), n => Assert.StartsWith("decoder.", n));
    }

    [Fact]
    public void Position_table_for_another_size_needs_resizePositions()
    {
        using var scope = torch.NewDisposeScope();
        var (small, _) = Build(TinyEncoderConfigs.Vit(), 8); // 16 px: 4×4 patches
        var hf = HfVitLayout.ToHf(small);
        using var big = new VisionTransformer(TinyEncoderConfigs.Vit() with { ImageSize = 24 }); // 6×6
        var e = Assert.Throws<WeightsException>(() => HfVitLayout.LoadHf(big, hf));
        Assert.Contains("'embeddings.position_embeddings' has shape [1, 17, 32], the model needs [1, 37, 32]", e.Message);
        Assert.Contains("resizePositions", e.Message);

        HfVitLayout.LoadHf(big, hf, resizePositions: true);
        var expected = VisionTransformer.InterpolatePositions(small.state_dict()["pos_embed"], classToken: true, newGrid: 6);
        Assert.True(big.state_dict()["pos_embed"].allclose(expected));
        Assert.Equal(new long[] { 2, 37, 32 }, big.call(torch.randn(2, 3, 24, 24)).shape);

        // A fixed sin-cos model keeps its own table; a trained table is refused for it.
        using var sincos = new VisionTransformer(TinyEncoderConfigs.Vit(posEmbed: "sincos") with { ImageSize = 24 });
        HfVitLayout.LoadHf(sincos, hf, resizePositions: true);
        using var sincosSmall = new VisionTransformer(TinyEncoderConfigs.Vit(posEmbed: "sincos"));
        Assert.Contains("fixed sin-cos", Assert.Throws<WeightsException>(() => HfVitLayout.LoadHf(sincosSmall, hf)).Message);
    }

    [Theory]
    [InlineData(true, "learned", false, "vit")]
    [InlineData(false, "sincos", false, "pretrain-vit")]
    [InlineData(true, "sincos", true, "pretrain-mae")]
    public void Config_json_round_trips(bool classToken, string posEmbed, bool mae, string modelType)
    {
        var config = TinyEncoderConfigs.Vit(classToken, posEmbed) with { QkvBias = classToken };
        var decoder = mae ? TinyEncoderConfigs.MaeDecoder() with { NormEps = 1e-5 } : null;
        var json = HfVitLayout.ConfigJson(config, decoder);
        Assert.Equal(modelType, json["model_type"]!.GetValue<string>());
        var parsed = JsonNode.Parse(json.ToJsonString())!.AsObject();
        Assert.Equal(config, HfVitLayout.ConfigFromJson(parsed));
        Assert.Equal(decoder, HfVitLayout.DecoderConfigFromJson(parsed));
    }

    private static (VisionTransformer Model, ClassifierHead Head) Build(VitConfig config, int seed)
    {
        var model = new VisionTransformer(config);
        var head = new ClassifierHead(config.EmbedDim, 5);
        TestWeights.Randomize(model, seed);
        TestWeights.Randomize(head, seed + 100);
        model.eval();
        head.eval();
        return (model, head);
    }
}
