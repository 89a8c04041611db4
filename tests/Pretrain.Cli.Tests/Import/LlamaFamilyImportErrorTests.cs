using System.Text.Json.Nodes;
using Pretrain.Models.Text;
using Pretrain.Models.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Cli.Tests.Import;

/// <summary>
/// The llama family's layouts written by our own writer (ToHf + config.json, as Hugging Face would have them) import
/// back unchanged, and each way a folder can be wrong is one error line naming the file and the key. About 0.3 s each.
/// </summary>
[Collection("torch")]
public sealed class LlamaFamilyImportErrorTests
{
    [Theory]
    [InlineData("llama")]
    [InlineData("qwen2")]
    [InlineData("qwen3")]
    [InlineData("mistral")]
    [InlineData("phi3")]
    public void Our_own_writer_and_reader_round_trip_every_layout(string layout)
    {
        using var dir = new TempDir();
        var (config, tensors, parameters) = Write(dir["hf"], layout);
        Assert.Equal(parameters, Pretrain.Models.Sizing.ModelMemory.Count(config, null).Total);
        var r = CliRunner.Run("import", dir["hf"], "--out", dir["ckpt"]);
        Assert.True(r.Code == 0, r.Err + r.Out);
        HfFolders.AssertSameTensors(tensors, dir["ckpt"]);
        var json = HfFolders.Config(dir["ckpt"]);
        Assert.Equal(layout, json["model_type"]!.GetValue<string>());
        Assert.Equal(config, HfDecoderLayout.ConfigFromJson(json));
        if (layout == "phi3")
            Assert.Contains("model.layers.0.self_attn.qkv_proj.weight", tensors.Keys);
    }

    [Fact]
    public void An_unknown_model_type_is_one_error_naming_it()
    {
        using var dir = new TempDir();
        Write(dir["hf"], "llama");
        HfFolders.Rewrite(dir["hf/config.json"], j => { j["model_type"] = "gemma2"; return j; });
        AssertRefused(dir, "model_type 'gemma2'", "config.json");
    }

    [Fact]
    public void An_unknown_rope_type_is_one_error_naming_it()
    {
        using var dir = new TempDir();
        Write(dir["hf"], "llama");
        HfFolders.Rewrite(dir["hf/config.json"], j => { j["rope_scaling"] = new JsonObject { ["rope_type"] = "yarn", ["factor"] = 4.0 }; return j; });
        AssertRefused(dir, "rope_scaling.rope_type 'yarn'", "config.json");
    }

    [Fact]
    public void Phi3_longrope_is_refused_with_what_to_use_instead()
    {
        using var dir = new TempDir();
        Write(dir["hf"], "phi3");
        HfFolders.Rewrite(dir["hf/config.json"], j =>
        {
            j["rope_scaling"] = new JsonObject { ["type"] = "longrope", ["long_factor"] = new JsonArray(1.0, 1.0), ["short_factor"] = new JsonArray(1.0, 1.0) };
            return j;
        });
        AssertRefused(dir, "rope_type 'longrope'", "without rope_scaling");
    }

    [Fact]
    public void Llama3_rope_scaling_without_its_original_context_is_refused()
    {
        using var dir = new TempDir();
        Write(dir["hf"], "llama");
        HfFolders.Rewrite(dir["hf/config.json"], j =>
        {
            j["rope_scaling"] = new JsonObject { ["rope_type"] = "llama3", ["factor"] = 8.0, ["low_freq_factor"] = 1.0, ["high_freq_factor"] = 4.0 };
            return j;
        });
        AssertRefused(dir, "original_max_position_embeddings", "config.json");
    }

    [Fact]
    public void A_qwen_sliding_window_on_some_layers_is_refused()
    {
        using var dir = new TempDir();
        Write(dir["hf"], "qwen2");
        HfFolders.Rewrite(dir["hf/config.json"], j => { j["use_sliding_window"] = true; j["sliding_window"] = 4; return j; });
        AssertRefused(dir, "use_sliding_window", "config.json");
    }

    [Fact]
    public void A_missing_tensor_is_one_error_naming_it()
    {
        using var dir = new TempDir();
        Write(dir["hf"], "qwen3");
        EditWeights(dir["hf/model.safetensors"], w => w.Remove("model.layers.1.self_attn.k_norm.weight"));
        AssertRefused(dir, "missing: model.layers.1.self_attn.k_norm.weight", "model");
    }

    [Fact]
    public void An_extra_tensor_is_one_error_naming_it()
    {
        using var dir = new TempDir();
        Write(dir["hf"], "mistral");
        EditWeights(dir["hf/model.safetensors"], w => w["model.layers.0.self_attn.q_norm.weight"] = torch.ones(8));
        AssertRefused(dir, "unexpected: model.layers.0.self_attn.q_norm.weight", "model");
    }

    [Fact]
    public void A_fused_phi3_tensor_of_the_wrong_shape_is_one_error_naming_it()
    {
        using var dir = new TempDir();
        Write(dir["hf"], "phi3");
        EditWeights(dir["hf/model.safetensors"], w => w["model.layers.1.mlp.gate_up_proj.weight"] = torch.zeros(40, 16));
        AssertRefused(dir, "'model.layers.1.mlp.gate_up_proj.weight' has shape [40, 16]", "[48, 16]");
    }

    /// <summary>A tiny random model of <paramref name="layout"/> written as Hugging Face would (no "pretrain" key).</summary>
    private static (DecoderLmConfig Config, Dictionary<string, Tensor> Tensors, long Parameters) Write(string dir, string layout)
    {
        Directory.CreateDirectory(dir);
        var config = new DecoderLmConfig
        {
            Arch = "llama", Layout = layout == "llama" ? null : layout, VocabSize = 40, MaxSeqLen = 16, EmbedDim = 16,
            NumLayers = 2, NumHeads = 2, NumKvHeads = layout == "phi3" ? 2 : 1, MlpHiddenDim = 24, TieEmbeddings = layout == "qwen2",
            HeadSize = layout == "qwen3" ? 12 : null, QkNorm = layout == "qwen3", QkvBias = layout == "qwen2" ? true : null,
            SlidingWindow = layout is "mistral" or "phi3" ? 4 : null, Bias = false,
            RopeScaling = layout == "llama" ? new RopeScaling { Type = "llama3", Factor = 8, OriginalMaxPositions = 64 } : null,
        };
        using var model = new DecoderLm(config);
        model.InitializeWeights(5);
        var tensors = HfDecoderLayout.ToHf(model);
        var json = HfDecoderLayout.ConfigJson(config);
        json.Remove("pretrain");
        File.WriteAllText(Path.Combine(dir, "config.json"), json.ToJsonString());
        Safetensors.Save(Path.Combine(dir, "model.safetensors"), tensors);
        return (config, tensors.ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone(), StringComparer.Ordinal), model.ParameterCount());
    }

    private static void EditWeights(string path, Action<Dictionary<string, Tensor>> edit)
    {
        var all = Safetensors.Load(path);
        edit(all);
        Safetensors.Save(path, all);
    }

    private static void AssertRefused(TempDir dir, params string[] fragments)
    {
        var r = CliRunner.Run("import", dir["hf"], "--out", dir["ckpt"]);
        Assert.Equal(1, r.Code);
        var line = Assert.Single(r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        foreach (var f in fragments)
            Assert.Contains(f, line, StringComparison.Ordinal);
        Assert.Contains(dir["hf"], line, StringComparison.Ordinal);
        Assert.False(Directory.Exists(dir["ckpt"]));
    }
}
