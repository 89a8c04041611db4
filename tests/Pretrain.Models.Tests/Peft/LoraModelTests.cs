using Pretrain.Models.Peft;
using Pretrain.Models.Text;
using Pretrain.Models.Vision;
using Pretrain.Models.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Models.Tests.Peft;

[Collection("torch")]
public sealed class LoraModelTests
{
    internal static LoraConfig ConfigFor(string arch) => new()
    {
        Rank = 4, Alpha = 8, Dropout = 0,
        Targets = arch switch
        {
            "gpt2" => ["q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj"],
            "llama" or "phi3" => ["q_proj", "v_proj", "gate_proj", "down_proj"],
            "bert" => ["q_proj", "v_proj", "down_proj"],
            _ => ["q_proj", "v_proj", "o_proj"],
        },
    };

    [Theory]
    [InlineData("gpt2")]
    [InlineData("llama")]
    [InlineData("bert")]
    [InlineData("vit")]
    public void Zero_init_lora_leaves_outputs_unchanged_and_merge_matches(string arch)
    {
        using var scope = torch.NewDisposeScope();
        using var plain = LoraModels.Build(arch, null);
        using var model = LoraModels.Build(arch, ConfigFor(arch)); // same seeded base weights: the init skips lora_*
        plain.eval();
        model.eval();
        var x = LoraModels.Input(arch);
        using var _ = torch.no_grad();
        var expected = LoraModels.Forward(plain, x);
        Assert.True(LoraModels.Forward(model, x).equal(expected).all().item<bool>());

        // Merged = base + adapter, within 1e-5; unmerge gives the adapted model back.
        LoraModels.RandomizeAdapters(model, 5);
        var adapted = LoraModels.Forward(model, x);
        Assert.True(LoraModels.MaxDiff(adapted, expected) > 1e-3); // the adapters do something
        var before = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        LoraModel.MergeAll(model);
        Assert.All(LoraModel.Layers(model), l => Assert.True(l.Layer.Merged));
        Assert.True(LoraModels.MaxDiff(LoraModels.Forward(model, x), adapted) < 1e-5);
        LoraModel.UnmergeAll(model);
        Assert.True(LoraModels.MaxDiff(LoraModels.Forward(model, x), adapted) < 1e-5);
        foreach (var (name, t) in model.state_dict())
            Assert.True(LoraModels.MaxDiff(t, before[name]) < 1e-6, name);
    }

    [Fact]
    public void Only_adapters_and_chosen_parameters_get_gradients_and_change()
    {
        using var scope = torch.NewDisposeScope();
        using var model = LoraModels.Build("bert", ConfigFor("bert"));
        var trainable = LoraModel.FreezeBase(model, "*norm*");
        var names = LoraModel.TrainableParameters(model).Select(p => p.Name).ToList();
        Assert.All(names, n => Assert.True(LoraLinear.IsAdapterParameter(n) || n.Contains("norm", StringComparison.Ordinal), n));
        Assert.Contains("blocks.0.attn.q_proj.lora_a", names);
        Assert.Contains("embed_norm.weight", names);
        Assert.DoesNotContain("blocks.0.attn.q_proj.weight", names);
        // 2 layers × 3 adapters × (4·32 + 32·4 or 4·48 + 32·4) + norms (embed + 2 per layer) × 2 × 32.
        Assert.Equal(2 * (2 * 256 + 320) + 5 * 64, trainable);

        var before = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        using var sgd = torch.optim.SGD(LoraModel.TrainableParameters(model).Select(p => p.Param), 0.1);
        var x = LoraModels.Input("bert");
        // A fixed random projection of the output: sum(out²) would be constant under BERT's final LayerNorm.
        var probe = torch.randn(2, 7, 32, generator: new Generator(3));
        for (var step = 0; step < 2; step++) // step 1 moves B off zero, step 2 then moves A
        {
            sgd.zero_grad();
            (LoraModels.Forward(model, x) * probe).sum().backward();
            foreach (var (name, p) in model.named_parameters())
                Assert.Equal(p.requires_grad, p.grad is not null);
            sgd.step();
        }
        foreach (var (name, p) in model.named_parameters())
        {
            var changed = !p.equal(before[name]).all().item<bool>();
            Assert.True(changed == p.requires_grad, $"{name}: changed {changed}, trainable {p.requires_grad}");
        }
    }

    [Fact]
    public void Layer_range_is_respected()
    {
        using var model = new DecoderLm(TinyConfigs.Llama() with { NumLayers = 3 }, ConfigFor("llama") with { Layers = [0, 2] });
        var names = LoraModel.Layers(model).Select(l => l.Name).ToList();
        Assert.Equal(new[]
        {
            "blocks.0.attn.q_proj", "blocks.0.attn.v_proj", "blocks.0.mlp.gate_proj", "blocks.0.mlp.down_proj",
            "blocks.2.attn.q_proj", "blocks.2.attn.v_proj", "blocks.2.mlp.gate_proj", "blocks.2.mlp.down_proj",
        }, names);
    }

    [Theory]
    [InlineData("gpt2")]
    [InlineData("bert")]
    [InlineData("vit")]
    public void A_base_checkpoint_loads_into_a_lora_model_with_only_lora_keys_missing(string arch)
    {
        using var dir = new TempDir();
        using var scope = torch.NewDisposeScope();
        using var plain = LoraModels.Build(arch, null, seed: 21);
        using var model = LoraModels.Build(arch, ConfigFor(arch), seed: 4);
        plain.eval();
        model.eval();

        // Our own names (state dict through a file): only lora_* are missing, nothing is unexpected.
        var path = dir.File("model.safetensors");
        Safetensors.Save(path, plain.state_dict());
        var (missing, unexpected) = model.load_state_dict(Safetensors.Load(path), strict: false);
        Assert.Empty(unexpected);
        Assert.NotEmpty(missing);
        Assert.All(missing, k => Assert.True(LoraLinear.IsAdapterParameter(k), k));
        Assert.Equal(model.named_parameters().Count(p => LoraLinear.IsAdapterParameter(p.name)), missing.Count);
        var x = LoraModels.Input(arch);
        using var _ = torch.no_grad();
        Assert.True(LoraModels.Forward(model, x).equal(LoraModels.Forward(plain, x)).all().item<bool>());

        // Hugging Face names: the layouts ignore the LoRA matrices, so the base checkpoint loads as it is.
        using var other = LoraModels.Build(arch, ConfigFor(arch), seed: 9);
        other.eval();
        LoadHf(other, ToHf(plain));
        Assert.True(LoraModels.Forward(other, x).equal(LoraModels.Forward(plain, x)).all().item<bool>());
    }

    [Theory]
    [InlineData("gpt2")]
    [InlineData("llama")]
    [InlineData("bert")]
    [InlineData("vit")]
    public void Merged_export_equals_the_adapted_model_and_leaves_it_unchanged(string arch)
    {
        using var scope = torch.NewDisposeScope();
        using var model = LoraModels.Build(arch, ConfigFor(arch));
        LoraModels.RandomizeAdapters(model, 8);
        model.eval();
        var before = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        var merged = LoraModel.ExportMerged(model, () => ToHf(model));
        Assert.DoesNotContain(merged.Keys, k => k.Contains("lora", StringComparison.Ordinal));
        foreach (var (name, t) in model.state_dict())
            Assert.True(t.equal(before[name]).all().item<bool>(), name); // bit-exact: weights restored, not unmerged
        Assert.All(LoraModel.Layers(model), l => Assert.False(l.Layer.Merged));

        using var plain = LoraModels.Build(arch, null, seed: 99);
        plain.eval();
        LoadHf(plain, merged);
        var x = LoraModels.Input(arch);
        using var _ = torch.no_grad();
        Assert.True(LoraModels.MaxDiff(LoraModels.Forward(plain, x), LoraModels.Forward(model, x)) < 1e-5);
    }

    internal static Dictionary<string, Tensor> ToHf(nn.Module model) => model switch
    {
        DecoderLm d => HfDecoderLayout.ToHf(d),
        EncoderLm e => HfEncoderLayout.ToHf(e),
        VisionTransformer v => HfVitLayout.ToHf(v),
        _ => throw new ArgumentException(model.GetType().Name),
    };

    internal static void LoadHf(nn.Module model, Dictionary<string, Tensor> hf)
    {
        switch (model)
        {
            case DecoderLm d: HfDecoderLayout.LoadHf(d, hf); break;
            case EncoderLm e: HfEncoderLayout.LoadHf(e, hf); break;
            case VisionTransformer v: HfVitLayout.LoadHf(v, hf); break;
            default: throw new ArgumentException(model.GetType().Name);
        }
    }
}
