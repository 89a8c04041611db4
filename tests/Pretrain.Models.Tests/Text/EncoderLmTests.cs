using Pretrain.Models.Heads;
using Pretrain.Models.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Models.Tests.Text;

[Collection("torch")]
public sealed class EncoderLmTests
{
    [Fact]
    public void Forward_maps_ids_to_hidden_states_and_keys_are_field_names()
    {
        using var scope = torch.NewDisposeScope();
        using var model = new EncoderLm(TinyEncoderConfigs.Bert(pooler: true));
        model.InitializeWeights(1);
        model.eval();
        var ids = torch.randint(0, 41, [3, 10], ScalarType.Int64);
        var hidden = model.call(ids, torch.ones(3, 10, ScalarType.Int64), torch.zeros(3, 10, ScalarType.Int64));
        Assert.Equal(new long[] { 3, 10, 32 }, hidden.shape);
        Assert.True(hidden.isfinite().all().item<bool>());
        Assert.Equal(new long[] { 3, 32 }, model.Pool(hidden).shape);
        // No mask and no segments mean all real and segment 0.
        Assert.True(hidden.allclose(model.call(ids, null, null), 1e-6, 1e-6));

        var keys = model.state_dict().Keys.ToHashSet();
        foreach (var k in new[] { "tok_embed.weight", "pos_embed.weight", "type_embed.weight", "embed_norm.weight", "embed_norm.bias",
                     "blocks.1.norm1.weight", "blocks.1.attn.q_proj.weight", "blocks.1.attn.q_proj.bias", "blocks.1.attn.o_proj.bias",
                     "blocks.1.norm2.bias", "blocks.1.mlp.up_proj.weight", "blocks.1.mlp.down_proj.bias", "pooler.weight", "pooler.bias" })
            Assert.Contains(k, keys);
        Assert.DoesNotContain("norm.weight", keys); // post-LN has no final norm
        Assert.Equal(model.named_parameters().Count(), keys.Count);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Padding_does_not_change_real_tokens(bool postNorm)
    {
        using var scope = torch.NewDisposeScope();
        using var model = new EncoderLm(TinyEncoderConfigs.Bert(postNorm));
        TestWeights.Randomize(model, 2);
        model.eval();
        var ids = torch.randint(1, 41, [1, 6], ScalarType.Int64, generator: new Generator(3));
        var types = torch.tensor(new long[] { 0, 0, 0, 1, 1, 1 }).unsqueeze(0);
        using var _ = torch.no_grad();
        var alone = model.call(ids, torch.ones(1, 6, ScalarType.Int64), types);

        // The same sentence padded to 10 with junk ids and junk segments, next to a longer one.
        var padded = torch.cat([ids, torch.tensor(new long[] { 7, 8, 9, 10 }).unsqueeze(0)], 1);
        var batchIds = torch.cat([padded, torch.randint(1, 41, [1, 10], ScalarType.Int64)], 0);
        var mask = torch.tensor(new long[,] { { 1, 1, 1, 1, 1, 1, 0, 0, 0, 0 }, { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 } });
        var batchTypes = torch.cat([torch.cat([types, torch.ones(1, 4, ScalarType.Int64)], 1), torch.zeros(1, 10, ScalarType.Int64)], 0);
        var batch = model.call(batchIds, mask, batchTypes);

        var diff = (batch[0, ..6] - alone[0]).abs().max().item<float>();
        Assert.True(diff < 1e-5, $"padding changed real tokens by {diff}");
        // Without the mask the padding would leak in: the check above is not vacuous.
        var leaky = model.call(batchIds, null, batchTypes);
        Assert.True((leaky[0, ..6] - alone[0]).abs().max().item<float>() > 1e-3);
    }

    [Fact]
    public void Post_norm_and_pre_norm_differ_on_the_same_weights()
    {
        using var scope = torch.NewDisposeScope();
        using var post = new EncoderLm(TinyEncoderConfigs.Bert(postNorm: true));
        using var pre = new EncoderLm(TinyEncoderConfigs.Bert(postNorm: false));
        TestWeights.Randomize(post, 4);
        TestWeights.Randomize(pre, 4); // same draws for the shared parameters: norm comes last
        post.eval();
        pre.eval();
        var preKeys = pre.state_dict().Keys.ToHashSet();
        Assert.Contains("norm.weight", preKeys);
        Assert.Equal(preKeys.Count - 2, post.state_dict().Count);
        var ids = torch.randint(0, 41, [2, 8], ScalarType.Int64);
        using var _ = torch.no_grad();
        Assert.True((post.call(ids, null, null) - pre.call(ids, null, null)).abs().max().item<float>() > 1e-2);
    }

    [Fact]
    public void Dropout_only_in_training()
    {
        using var scope = torch.NewDisposeScope();
        using var model = new EncoderLm(TinyEncoderConfigs.Bert());
        model.InitializeWeights(5);
        var ids = torch.randint(0, 41, [2, 8], ScalarType.Int64);
        using var _ = torch.no_grad();
        model.train();
        var a = model.call(ids, null, null);
        var b = model.call(ids, null, null);
        Assert.False(a.allclose(b)); // SimCSE relies on this: two passes, two dropout masks
        model.eval();
        Assert.True(model.call(ids, null, null).equal(model.call(ids, null, null)).all().item<bool>());
    }

    [Fact]
    public void MeanPool_ignores_padding()
    {
        using var scope = torch.NewDisposeScope();
        var hidden = torch.randn(2, 5, 3);
        var mask = torch.tensor(new long[,] { { 1, 1, 0, 0, 0 }, { 1, 1, 1, 1, 1 } });
        var pooled = EncoderLm.MeanPool(hidden, mask);
        Assert.True(pooled[0].allclose(hidden[0, ..2].mean([0L]), 1e-6, 1e-6));
        Assert.True(pooled[1].allclose(hidden[1].mean([0L]), 1e-6, 1e-6));
        var changed = hidden.clone();
        changed[0, 3] = torch.full(3, 1000f);
        Assert.True(EncoderLm.MeanPool(changed, mask).equal(pooled).all().item<bool>());
        Assert.True(EncoderLm.MeanPool(hidden, torch.zeros(2, 5, ScalarType.Int64)).isfinite().all().item<bool>());
    }

    [Fact]
    public void MlmHead_is_tied_and_selected_positions_match_full_logits()
    {
        using var scope = torch.NewDisposeScope();
        using var model = new EncoderLm(TinyEncoderConfigs.Bert());
        using var head = new MlmHead(model);
        model.InitializeWeights(6);
        head.InitializeWeights(7);
        model.eval();
        Assert.Equal(new[] { "dense.weight", "dense.bias", "norm.weight", "norm.bias", "bias" }.Order(), head.state_dict().Keys.Order());
        var ids = torch.randint(0, 41, [2, 8], ScalarType.Int64);
        using var _ = torch.no_grad();
        var hidden = model.call(ids, null, null);
        var full = head.call(hidden, null);
        Assert.Equal(new long[] { 2, 8, 41 }, full.shape);
        var positions = torch.tensor(new long[] { 1, 9, 15 }); // (0, 1), (1, 1), (1, 7)
        var some = head.call(hidden, positions);
        Assert.Equal(new long[] { 3, 41 }, some.shape);
        Assert.True(some.allclose(full.reshape(16, 41).index_select(0, positions), 1e-6, 1e-6));

        // Tied: changing the word embeddings changes the logits; the head owns no copy.
        model.WordEmbeddings.mul_(2);
        Assert.False(head.call(hidden, positions).allclose(some));
    }
}
