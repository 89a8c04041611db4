using Pretrain.Models.Text;
using Pretrain.Models.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Models.Tests.Weights;

[Collection("torch")]
public sealed class HfDecoderLayoutTests
{
    [Theory]
    [InlineData("gpt2", true)]
    [InlineData("gpt2", false)]
    [InlineData("llama", true)]
    [InlineData("llama", false)]
    public void ToHf_then_LoadHf_gives_identical_logits(string arch, bool tie)
    {
        using var dir = new TempDir();
        using var scope = torch.NewDisposeScope();
        var config = TinyConfigs.ByArch(arch) with { TieEmbeddings = tie };
        using var source = new DecoderLm(config);
        source.InitializeWeights(7);
        using var target = new DecoderLm(config);
        target.InitializeWeights(8);
        source.eval();
        target.eval();

        // Through a file, as a checkpoint goes.
        var path = dir.File("model.safetensors");
        Safetensors.Save(path, HfDecoderLayout.ToHf(source));
        var loaded = Safetensors.Load(path);
        Assert.Equal(!tie, loaded.ContainsKey("lm_head.weight"));
        HfDecoderLayout.LoadHf(target, loaded);

        var ids = torch.randint(0, 37, [2, 9], ScalarType.Int64);
        using var _ = torch.no_grad();
        Assert.True(source.call(ids).equal(target.call(ids)).all().item<bool>());
    }

    [Fact]
    public void Gpt2_names_and_fused_c_attn()
    {
        using var scope = torch.NewDisposeScope();
        using var model = new DecoderLm(TinyConfigs.Gpt2());
        model.InitializeWeights(1);
        var hf = HfDecoderLayout.ToHf(model);
        var names = hf.Keys.ToHashSet();
        foreach (var n in new[] { "transformer.wte.weight", "transformer.wpe.weight", "transformer.h.1.ln_1.weight", "transformer.h.1.ln_1.bias",
                     "transformer.h.1.attn.c_attn.weight", "transformer.h.1.attn.c_attn.bias", "transformer.h.1.attn.c_proj.weight",
                     "transformer.h.1.ln_2.bias", "transformer.h.1.mlp.c_fc.weight", "transformer.h.1.mlp.c_proj.bias", "transformer.ln_f.weight" })
            Assert.Contains(n, names);
        Assert.Equal(2 + 2 * 12 + 2, names.Count); // no lm_head: tied

        var sd = model.state_dict();
        var cAttn = hf["transformer.h.1.attn.c_attn.weight"];
        Assert.Equal(new long[] { 32, 96 }, cAttn.shape); // [in, 3·out]
        var expected = torch.cat([sd["blocks.1.attn.q_proj.weight"], sd["blocks.1.attn.k_proj.weight"], sd["blocks.1.attn.v_proj.weight"]], 0).t();
        Assert.True(cAttn.equal(expected).all().item<bool>());
        Assert.True(hf["transformer.h.1.attn.c_attn.bias"].equal(torch.cat([sd["blocks.1.attn.q_proj.bias"], sd["blocks.1.attn.k_proj.bias"], sd["blocks.1.attn.v_proj.bias"]], 0)).all().item<bool>());
        Assert.Equal(new long[] { 32, 128 }, hf["transformer.h.0.mlp.c_fc.weight"].shape);
        Assert.Equal(new long[] { 128, 32 }, hf["transformer.h.0.mlp.c_proj.weight"].shape);
        Assert.True(hf["transformer.h.0.mlp.c_proj.weight"].equal(sd["blocks.0.mlp.down_proj.weight"].t()).all().item<bool>());
    }

    [Fact]
    public void Llama_names()
    {
        using var model = new DecoderLm(TinyConfigs.Llama());
        var hf = HfDecoderLayout.ToHf(model);
        var names = hf.Keys.ToHashSet();
        foreach (var n in new[] { "model.embed_tokens.weight", "model.layers.0.input_layernorm.weight", "model.layers.0.self_attn.q_proj.weight",
                     "model.layers.0.self_attn.k_proj.weight", "model.layers.0.self_attn.v_proj.weight", "model.layers.0.self_attn.o_proj.weight",
                     "model.layers.0.post_attention_layernorm.weight", "model.layers.0.mlp.gate_proj.weight", "model.layers.0.mlp.up_proj.weight",
                     "model.layers.0.mlp.down_proj.weight", "model.norm.weight", "lm_head.weight" })
            Assert.Contains(n, names);
        Assert.Equal(1 + 2 * 9 + 2, names.Count);
        foreach (var t in hf.Values)
            t.Dispose();
    }

    [Fact]
    public void LoadHf_accepts_unprefixed_names_and_skips_mask_buffers()
    {
        using var scope = torch.NewDisposeScope();
        using var source = new DecoderLm(TinyConfigs.Gpt2());
        source.InitializeWeights(3);
        var hf = HfDecoderLayout.ToHf(source)
            .ToDictionary(kv => kv.Key.Replace("transformer.", "", StringComparison.Ordinal), kv => kv.Value);
        hf["h.0.attn.bias"] = torch.ones(1, 1, 16, 16); // old HF GPT-2 files carry the causal mask
        hf["lm_head.weight"] = hf["wte.weight"];        // some tied checkpoints store the head anyway
        using var target = new DecoderLm(TinyConfigs.Gpt2());
        HfDecoderLayout.LoadHf(target, hf);
        Assert.True(source.state_dict()["blocks.1.attn.v_proj.bias"].equal(target.state_dict()["blocks.1.attn.v_proj.bias"]).all().item<bool>());
    }

    [Fact]
    public void LoadHf_reports_every_problem_and_changes_nothing()
    {
        using var scope = torch.NewDisposeScope();
        using var source = new DecoderLm(TinyConfigs.Llama());
        source.InitializeWeights(4);
        var hf = new Dictionary<string, Tensor>(HfDecoderLayout.ToHf(source));
        hf.Remove("model.layers.1.mlp.up_proj.weight");
        hf["model.layers.0.self_attn.extra.weight"] = torch.zeros(2);
        hf["model.layers.0.self_attn.k_proj.weight"] = torch.zeros(32, 32); // GQA needs (16, 32)

        using var target = new DecoderLm(TinyConfigs.Llama());
        target.InitializeWeights(5);
        var before = target.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        var e = Assert.Throws<WeightsException>(() => HfDecoderLayout.LoadHf(target, hf));
        Assert.Contains("missing: model.layers.1.mlp.up_proj.weight", e.Message, StringComparison.Ordinal);
        Assert.Contains("unexpected: model.layers.0.self_attn.extra.weight", e.Message, StringComparison.Ordinal);
        Assert.Contains("'model.layers.0.self_attn.k_proj.weight' has shape [32, 32], the model needs [16, 32]", e.Message, StringComparison.Ordinal);
        foreach (var (name, t) in target.state_dict())
            Assert.True(t.equal(before[name]).all().item<bool>(), name);
    }

    [Fact]
    public void LoadHf_refuses_an_untied_head_for_a_tied_model()
    {
        using var scope = torch.NewDisposeScope();
        using var untied = new DecoderLm(TinyConfigs.Llama(tie: false));
        untied.InitializeWeights(6);
        using var tied = new DecoderLm(TinyConfigs.Llama(tie: true));
        var e = Assert.Throws<WeightsException>(() => HfDecoderLayout.LoadHf(tied, HfDecoderLayout.ToHf(untied)));
        Assert.Contains("tie_embeddings", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("gpt2")]
    [InlineData("llama")]
    public void Config_json_round_trips(string arch)
    {
        var configs = new[]
        {
            TinyConfigs.ByArch(arch),
            TinyConfigs.ByArch(arch) with { MlpHiddenDim = 96, Dropout = 0.1, TieEmbeddings = !TinyConfigs.ByArch(arch).TieEmbeddings, Bias = arch == "llama" },
            TinyConfigs.ByArch(arch) with { NumKvHeads = arch == "llama" ? 4 : null, Bias = arch == "gpt2" ? false : null },
        };
        foreach (var config in configs)
        {
            var json = HfDecoderLayout.ConfigJson(config, bosTokenId: 1, eosTokenId: 2);
            var text = json.ToJsonString();
            var parsed = (System.Text.Json.Nodes.JsonObject)System.Text.Json.Nodes.JsonNode.Parse(text)!;
            Assert.Equal(config, HfDecoderLayout.ConfigFromJson(parsed));
        }
    }

    [Fact]
    public void Config_json_has_the_hugging_face_keys()
    {
        var gpt2 = HfDecoderLayout.ConfigJson(TinyConfigs.Gpt2());
        Assert.Equal("gpt2", (string?)gpt2["model_type"]);
        Assert.Equal("GPT2LMHeadModel", (string?)gpt2["architectures"]![0]);
        Assert.Equal(32, (int?)gpt2["n_embd"]);
        Assert.Equal(16, (int?)gpt2["n_positions"]);
        Assert.Equal("gelu_new", (string?)gpt2["activation_function"]);
        Assert.Equal("gpt2", (string?)gpt2["pretrain"]!["arch"]);

        var llama = HfDecoderLayout.ConfigJson(TinyConfigs.Llama());
        Assert.Equal("LlamaForCausalLM", (string?)llama["architectures"]![0]);
        Assert.Equal(128, (int?)llama["intermediate_size"]);
        Assert.Equal(2, (int?)llama["num_key_value_heads"]);
        Assert.Equal(500.0, (double?)llama["rope_theta"]);
        Assert.Equal(false, (bool?)llama["attention_bias"]);
        Assert.Equal("silu", (string?)llama["hidden_act"]);
    }

    [Fact]
    public void Config_from_plain_hugging_face_json()
    {
        var gpt2 = (System.Text.Json.Nodes.JsonObject)System.Text.Json.Nodes.JsonNode.Parse(
            """{"model_type":"gpt2","vocab_size":50257,"n_positions":1024,"n_embd":768,"n_layer":12,"n_head":12,"n_inner":null,"activation_function":"gelu_new","layer_norm_epsilon":1e-05,"resid_pdrop":0.1}""")!;
        var c = HfDecoderLayout.ConfigFromJson(gpt2);
        Assert.Equal(new DecoderLmConfig { VocabSize = 50257, Dropout = 0.1 }, c);

        var unknown = (System.Text.Json.Nodes.JsonObject)System.Text.Json.Nodes.JsonNode.Parse("""{"model_type":"bert"}""")!;
        Assert.Contains("model_type 'bert'", Assert.Throws<WeightsException>(() => HfDecoderLayout.ConfigFromJson(unknown)).Message, StringComparison.Ordinal);
        var missing = (System.Text.Json.Nodes.JsonObject)System.Text.Json.Nodes.JsonNode.Parse("""{"model_type":"llama","vocab_size":10}""")!;
        Assert.Contains("no 'hidden_size'", Assert.Throws<WeightsException>(() => HfDecoderLayout.ConfigFromJson(missing)).Message, StringComparison.Ordinal);
    }
}
