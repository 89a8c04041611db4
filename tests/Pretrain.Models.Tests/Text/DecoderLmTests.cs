using Pretrain.Models.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Models.Tests.Text;

[Collection("torch")]
public sealed class DecoderLmTests
{
    [Theory]
    [InlineData("gpt2")]
    [InlineData("llama")]
    public void Forward_maps_ids_to_logits(string arch)
    {
        using var scope = torch.NewDisposeScope();
        using var model = new DecoderLm(TinyConfigs.ByArch(arch));
        model.InitializeWeights(1);
        model.eval();
        var ids = torch.randint(0, 37, [3, 10], ScalarType.Int64);
        var logits = model.call(ids);
        Assert.Equal(new long[] { 3, 10, 37 }, logits.shape);
        Assert.Equal(ScalarType.Float32, logits.dtype);
        Assert.True(logits.isfinite().all().item<bool>());
    }

    [Fact]
    public void State_dict_keys_are_field_names()
    {
        using var gpt2 = new DecoderLm(TinyConfigs.Gpt2());
        var keys = gpt2.state_dict().Keys.ToHashSet();
        Assert.Contains("tok_embed.weight", keys);
        Assert.Contains("pos_embed.weight", keys);
        Assert.Contains("blocks.1.attn.q_proj.weight", keys);
        Assert.Contains("blocks.1.attn.o_proj.bias", keys);
        Assert.Contains("blocks.0.norm1.bias", keys);
        Assert.Contains("blocks.0.mlp.up_proj.weight", keys);
        Assert.Contains("norm.weight", keys);
        Assert.DoesNotContain("lm_head.weight", keys);

        using var llama = new DecoderLm(TinyConfigs.Llama());
        var lkeys = llama.state_dict().Keys.ToHashSet();
        Assert.Contains("blocks.0.mlp.gate_proj.weight", lkeys);
        Assert.Contains("lm_head.weight", lkeys);
        Assert.DoesNotContain("pos_embed.weight", lkeys);
        Assert.DoesNotContain(lkeys, k => k.EndsWith(".bias", StringComparison.Ordinal));
        Assert.Equal(new long[] { 16, 32 }, llama.state_dict()["blocks.0.attn.k_proj.weight"].shape); // 2 kv heads of 8
        // RoPE tables are computed per call: nothing but parameters is saved.
        Assert.Equal(llama.named_parameters().Count(), lkeys.Count);
        Assert.Empty(llama.named_buffers());
    }

    [Theory]
    [InlineData("gpt2")]
    [InlineData("llama")]
    public void Changing_a_token_leaves_earlier_logits_unchanged(string arch)
    {
        using var scope = torch.NewDisposeScope();
        using var model = new DecoderLm(TinyConfigs.ByArch(arch));
        model.InitializeWeights(2);
        model.eval();
        using var _ = torch.no_grad();
        var ids = torch.randint(0, 37, [2, 12], ScalarType.Int64);
        var changed = ids.clone();
        const int t = 7;
        changed[TensorIndex.Colon, t] = (ids[TensorIndex.Colon, t] + 1) % 37;
        var a = model.call(ids);
        var b = model.call(changed);
        var before = TensorIndex.Slice(0, t);
        Assert.True(a[TensorIndex.Colon, before].allclose(b[TensorIndex.Colon, before], rtol: 0, atol: 1e-6));
        Assert.False(a[TensorIndex.Colon, t].allclose(b[TensorIndex.Colon, t], rtol: 0, atol: 1e-4));
    }

    [Fact]
    public void Tied_embeddings_are_one_parameter()
    {
        using var tied = new DecoderLm(TinyConfigs.Gpt2(tie: true));
        using var untied = new DecoderLm(TinyConfigs.Gpt2(tie: false));
        Assert.Equal(37L * 32, untied.ParameterCount() - tied.ParameterCount());
        Assert.Single(tied.named_parameters(), p => p.name.Contains("embed", StringComparison.Ordinal) && p.parameter.shape[0] == 37);

        // The head uses the embedding: a gradient reaches tok_embed from the head alone.
        using var scope = torch.NewDisposeScope();
        var logits = tied.call(torch.zeros([1, 1], ScalarType.Int64));
        logits[0, 0, 5].backward();
        var grad = tied.named_parameters().Single(p => p.name == "tok_embed.weight").parameter.grad!;
        Assert.NotEqual(0f, grad[5].abs().sum().item<float>());
    }

    [Fact]
    public void Parameter_count_can_exclude_positions()
    {
        using var model = new DecoderLm(TinyConfigs.Gpt2());
        Assert.Equal(16L * 32, model.ParameterCount() - model.ParameterCount(excludePositionEmbeddings: true));
        // gpt2 block: 4 d² + 4 d (attn) + 8 d² + 5 d (mlp) + 4 d (2 LayerNorms) = 12 d² + 13 d
        long d = 32;
        Assert.Equal(37 * d + 16 * d + 2 * (12 * d * d + 13 * d) + 2 * d, model.ParameterCount());
    }

    [Fact]
    public void Initialization_is_deterministic_and_scaled()
    {
        var config = TinyConfigs.Gpt2() with { EmbedDim = 64, NumLayers = 8, MlpHiddenDim = 512 };
        using var a = new DecoderLm(config);
        using var b = new DecoderLm(config);
        using var c = new DecoderLm(config);
        torch.manual_seed(1);
        a.InitializeWeights(42);
        torch.manual_seed(2);
        b.InitializeWeights(42);
        c.InitializeWeights(43);
        var pa = a.state_dict();
        var pb = b.state_dict();
        var pc = c.state_dict();
        foreach (var key in pa.Keys)
            Assert.True(pa[key].equal(pb[key]).all().item<bool>(), key);
        Assert.False(pa["tok_embed.weight"].equal(pc["tok_embed.weight"]).all().item<bool>());

        var residual = 0.02 / Math.Sqrt(2 * 8);
        Assert.Equal(0.02, pa["tok_embed.weight"].std().item<float>(), 0.002);
        Assert.Equal(0.02, pa["blocks.3.attn.q_proj.weight"].std().item<float>(), 0.002);
        Assert.Equal(0.02, pa["blocks.3.mlp.up_proj.weight"].std().item<float>(), 0.002);
        Assert.Equal(residual, pa["blocks.3.attn.o_proj.weight"].std().item<float>(), 0.0005);
        Assert.Equal(residual, pa["blocks.3.mlp.down_proj.weight"].std().item<float>(), 0.0005);
        Assert.Equal(0f, pa["blocks.3.attn.q_proj.bias"].abs().max().item<float>());
        Assert.True(pa["blocks.3.norm1.weight"].eq(1).all().item<bool>());
        Assert.Equal(0f, pa["norm.bias"].abs().max().item<float>());
    }

    [Fact]
    public void Dropout_acts_only_in_training()
    {
        using var scope = torch.NewDisposeScope();
        using var model = new DecoderLm(TinyConfigs.Llama() with { Dropout = 0.5 });
        model.InitializeWeights(3);
        var ids = torch.randint(0, 37, [1, 8], ScalarType.Int64);
        using (torch.no_grad())
        {
            model.eval();
            Assert.True(model.call(ids).equal(model.call(ids)).all().item<bool>());
            model.train();
            Assert.False(model.call(ids).allclose(model.call(ids)));
        }
    }

    [Theory]
    [InlineData(100, 3, null, "model.embed_dim (100) must be divisible by model.num_heads (3)")]
    [InlineData(32, 4, 3, "model.num_heads (4) must be divisible by model.num_kv_heads (3)")]
    public void Validate_names_the_setting(int embed, int heads, int? kvHeads, string message)
    {
        var config = TinyConfigs.Llama() with { EmbedDim = embed, NumHeads = heads, NumKvHeads = kvHeads };
        var e = Assert.Throws<ArgumentException>(config.Validate);
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
        var arch = Assert.Throws<ArgumentException>((TinyConfigs.Gpt2() with { Arch = "mamba" }).Validate);
        Assert.Contains("model.arch", arch.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Llama_mlp_width_defaults_to_two_thirds_of_four_d_rounded_to_64()
    {
        Assert.Equal(2048, (TinyConfigs.Llama() with { EmbedDim = 768, NumHeads = 12 }).MlpDim);
        Assert.Equal(128, TinyConfigs.Llama().MlpDim); // 2/3·128 = 85 → 128
        Assert.Equal(128, TinyConfigs.Gpt2().MlpDim);
    }
}
