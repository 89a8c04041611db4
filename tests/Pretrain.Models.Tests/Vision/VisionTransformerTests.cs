using Pretrain.Models.Heads;
using Pretrain.Models.Vision;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Models.Tests.Vision;

[Collection("torch")]
public sealed class VisionTransformerTests
{
    [Theory]
    [InlineData(true, "learned")]
    [InlineData(false, "sincos")]
    public void Forward_gives_tokens_and_pooled_features(bool classToken, string posEmbed)
    {
        using var scope = torch.NewDisposeScope();
        using var vit = new VisionTransformer(TinyEncoderConfigs.Vit(classToken, posEmbed));
        vit.InitializeWeights(1);
        vit.eval();
        var tokens = vit.call(torch.randn(2, 3, 16, 16));
        Assert.Equal(new long[] { 2, (classToken ? 1 : 0) + 16, 32 }, tokens.shape);
        var pooled = vit.Pool(tokens);
        Assert.Equal(new long[] { 2, 32 }, pooled.shape);
        Assert.True((classToken ? tokens[.., 0] : tokens.mean([1L])).allclose(pooled));
        using var classifier = new ClassifierHead(32, 5, dropout: 0.1);
        Assert.Equal(new long[] { 2, 5 }, classifier.call(pooled).shape);

        var sd = vit.state_dict();
        Assert.Equal(new long[] { 32, 3, 4, 4 }, sd["patch_embed.weight"].shape);
        Assert.Equal(new long[] { 1, (classToken ? 1 : 0) + 16, 32 }, sd["pos_embed"].shape);
        Assert.Equal(classToken, sd.ContainsKey("cls_token"));
        // A sin-cos table is saved (same key as a learned one) but never trained.
        Assert.Equal(posEmbed == "learned", vit.named_parameters().Any(p => p.name == "pos_embed"));
    }

    [Fact]
    public void Keeping_every_patch_in_order_equals_the_plain_forward_and_a_subset_keeps_count_and_order()
    {
        using var scope = torch.NewDisposeScope();
        using var vit = new VisionTransformer(TinyEncoderConfigs.Vit() with { NumLayers = 0 });
        TestWeights.Randomize(vit, 2);
        vit.eval();
        using var _ = torch.no_grad();
        var images = torch.randn(2, 3, 16, 16);
        var all = torch.arange(16, ScalarType.Int64).expand(2, -1);
        Assert.True(vit.ForwardVisible(images, all).allclose(vit.call(images), 1e-6, 1e-6));

        // With no blocks, each output token depends on its own patch only: kept tokens are the full forward's,
        // in the order asked for, after the class token.
        var keep = torch.tensor(new long[,] { { 5, 0, 11 }, { 15, 2, 3 } });
        var visible = vit.ForwardVisible(images, keep);
        Assert.Equal(new long[] { 2, 4, 32 }, visible.shape);
        var full = vit.call(images);
        for (var b = 0; b < 2; b++)
        {
            Assert.True(visible[b, 0].allclose(full[b, 0], 1e-6, 1e-6));
            for (var k = 0; k < 3; k++)
                Assert.True(visible[b, 1 + k].allclose(full[b, 1 + keep[b, k].item<long>()], 1e-6, 1e-6));
        }
    }

    [Fact]
    public void Sincos_table_matches_MAE_layout()
    {
        using var scope = torch.NewDisposeScope();
        var table = SinCosPositions.Table2D(8, 3, classToken: true); // (1, 10, 8)
        Assert.Equal(new long[] { 1, 10, 8 }, table.shape);
        Assert.True(table[0, 0].equal(torch.zeros(8)).all().item<bool>());
        // Patch n = 5 is row 1, column 2: first half encodes the column, second the row; ω = [1, 1/100].
        double[] Expected(double col, double row) =>
            [Math.Sin(col), Math.Sin(col / 100), Math.Cos(col), Math.Cos(col / 100), Math.Sin(row), Math.Sin(row / 100), Math.Cos(row), Math.Cos(row / 100)];
        Assert.True(table[0, 1 + 5].allclose(torch.tensor(Expected(2, 1), ScalarType.Float32), 1e-6, 1e-6));
    }

    [Fact]
    public void Position_interpolation_same_size_is_identity_and_other_size_has_the_new_grid()
    {
        using var scope = torch.NewDisposeScope();
        var table = torch.randn(1, 1 + 16, 8);
        var same = VisionTransformer.InterpolatePositions(table, classToken: true, newGrid: 4);
        Assert.True(same.allclose(table, 1e-6, 1e-6));
        var bigger = VisionTransformer.InterpolatePositions(table, classToken: true, newGrid: 6);
        Assert.Equal(new long[] { 1, 37, 8 }, bigger.shape);
        Assert.True(bigger[0, 0].equal(table[0, 0]).all().item<bool>());
        Assert.Equal(new long[] { 1, 4, 8 }, VisionTransformer.InterpolatePositions(table[.., 1..], classToken: false, newGrid: 2).shape);
        // A constant table stays constant (bicubic weights sum to 1).
        var flat = VisionTransformer.InterpolatePositions(torch.ones(1, 16, 8), classToken: false, newGrid: 7);
        Assert.True(flat.allclose(torch.ones(1, 49, 8), 1e-5, 1e-5));
    }

    [Fact]
    public void Wrong_image_size_names_the_fix()
    {
        using var scope = torch.NewDisposeScope();
        using var vit = new VisionTransformer(TinyEncoderConfigs.Vit());
        var e = Assert.Throws<ArgumentException>(() => vit.call(torch.randn(1, 3, 24, 24)));
        Assert.Contains("resizePositions", e.Message);
        Assert.Throws<ArgumentException>(() => new VisionTransformer(TinyEncoderConfigs.Vit(classToken: false) with { GlobalPool = "cls" }));
    }

    [Fact]
    public void ProjectionHead_maps_to_128_by_default()
    {
        using var scope = torch.NewDisposeScope();
        using var head = new ProjectionHead(32);
        Assert.Equal(new long[] { 4, 128 }, head.call(torch.randn(4, 32)).shape);
        Assert.Equal(new[] { "fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight" }, head.state_dict().Keys.Order());
        Assert.Equal(new long[] { 32, 32 }, head.state_dict()["fc1.weight"].shape);
        using var custom = new ProjectionHead(32, hiddenDim: 64, outDim: 16);
        Assert.Equal(new long[] { 4, 16 }, custom.call(torch.randn(4, 32)).shape);
    }
}
