using Pretrain.Models.Vision;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Models.Tests.Vision;

[Collection("torch")]
public sealed class MaeDecoderTests
{
    [Fact]
    public void Patchify_round_trips_and_orders_patches_row_major()
    {
        using var scope = torch.NewDisposeScope();
        var images = torch.randn(2, 3, 8, 12);
        var patches = ImagePatches.Patchify(images, 4);
        Assert.Equal(new long[] { 2, 6, 48 }, patches.shape);
        Assert.True(ImagePatches.Unpatchify(patches, 4, 3, gridHeight: 2).equal(images).all().item<bool>());
        // Patch 4 is grid row 1, column 1; its values run (row in patch, column in patch, channel).
        var expected = images[1, .., 4..8, 4..8].permute(1, 2, 0).reshape(-1);
        Assert.True(patches[1, 4].equal(expected).all().item<bool>());
        Assert.True(patches[0, 0, ..3].equal(images[0, .., 0, 0]).all().item<bool>()); // pixel (0, 0), channels 0..2
        var square = torch.randn(1, 1, 8, 8);
        Assert.True(ImagePatches.Unpatchify(ImagePatches.Patchify(square, 2), 2, 1).equal(square).all().item<bool>());
    }

    [Fact]
    public void Decoder_predicts_every_patch_and_unshuffles_to_original_positions()
    {
        using var scope = torch.NewDisposeScope();
        var vitConfig = TinyEncoderConfigs.Vit(posEmbed: "sincos");
        using var encoder = new VisionTransformer(vitConfig);
        using var decoder = new MaeDecoder(vitConfig, TinyEncoderConfigs.MaeDecoder() with { NumLayers = 0 });
        TestWeights.Randomize(encoder, 1);
        TestWeights.Randomize(decoder, 2);
        encoder.eval();
        decoder.eval();
        using var _ = torch.no_grad();

        // MAE's random masking: shuffle, keep the first K, ids_restore = argsort(shuffle).
        var (b, n, k) = (2L, 16L, 4L);
        var shuffle = torch.argsort(torch.rand(b, n, generator: new Generator(3)), 1);
        var keep = shuffle[.., ..(int)k];
        var restore = torch.argsort(shuffle, 1);
        var images = torch.randn(b, 3, 16, 16);
        var latent = encoder.ForwardVisible(images, keep); // (B, 1 + K, d)
        var pred = decoder.call(latent, restore);
        Assert.Equal(new long[] { b, n, vitConfig.PatchDim }, pred.shape);

        // With no decoder blocks each output depends on its own token only: a kept patch's prediction is what its
        // own encoder token gives at its original position; every masked patch gets the mask token (+ its position).
        var sd = decoder.state_dict();
        var (embedW, embedB) = (sd["embed.weight"], sd["embed.bias"]);
        var maskToken = sd["mask_token"][0, 0];
        var pos = sd["pos_embed"][0];
        Tensor Head(Tensor token) => torch.nn.functional.linear(
            torch.nn.functional.layer_norm(token, [24], sd["norm.weight"], sd["norm.bias"], 1e-6), sd["pred.weight"], sd["pred.bias"]);
        for (var i = 0; i < b; i++)
        {
            var kept = keep[i].data<long>().ToArray();
            for (var p = 0; p < n; p++)
            {
                var slot = Array.IndexOf(kept, p);
                var token = slot >= 0 ? torch.nn.functional.linear(latent[i, 1 + slot], embedW, embedB) : maskToken;
                Assert.True(pred[i, p].allclose(Head(token + pos[1 + p]), 1e-5, 1e-5), $"sample {i}, patch {p} (kept slot {slot})");
            }
        }
    }

    [Fact]
    public void Decoder_works_without_a_class_token()
    {
        using var scope = torch.NewDisposeScope();
        var vitConfig = TinyEncoderConfigs.Vit(classToken: false);
        using var encoder = new VisionTransformer(vitConfig);
        using var decoder = new MaeDecoder(vitConfig, TinyEncoderConfigs.MaeDecoder());
        var keep = torch.tensor(new long[,] { { 3, 1 } });
        var restore = torch.argsort(torch.tensor(new long[,] { { 3, 1, 0, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 } }), 1);
        var latent = encoder.ForwardVisible(torch.randn(1, 3, 16, 16), keep);
        Assert.Equal(new long[] { 1, 2, 32 }, latent.shape);
        Assert.Equal(new long[] { 1, 16, 48 }, decoder.call(latent, restore).shape);
        Assert.Equal(new long[] { 1, 16, 24 }, decoder.state_dict()["pos_embed"].shape);
    }
}
