using Pretrain.Models.Peft;
using Pretrain.Models.Text;
using TorchSharp;
using AdamW = Pretrain.Training.Optim.AdamW;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Pretrain.Training.Tests.Optim;

[Collection("torch")]
public sealed class LoraOptimizerTests
{
    /// <summary>With the base frozen, AdamW keeps moments for the adapters (and chosen parameters) only.</summary>
    [Fact]
    public void AdamW_holds_state_only_for_trainable_parameters()
    {
        using var scope = torch.NewDisposeScope();
        var config = new DecoderLmConfig { Arch = "llama", VocabSize = 37, MaxSeqLen = 16, EmbedDim = 32, NumLayers = 2, NumHeads = 4, TieEmbeddings = false };
        using var model = new DecoderLm(config, new LoraConfig { Rank = 4, Targets = ["q_proj", "v_proj"] });
        model.InitializeWeights(1);
        LoraModel.FreezeBase(model, "lm_head.*");
        using var opt = new AdamW(model.named_parameters(), (_, p) => p.dim() >= 2, 1e-2, 0.9, 0.95, 1e-8, 0.1);

        var expected = model.named_parameters().Where(p => LoraLinear.IsAdapterParameter(p.name) || p.name == "lm_head.weight").Select(p => p.name);
        Assert.Equal(expected, opt.ParameterNames);
        Assert.Equal(2 * 2 * 2 + 1, opt.ParameterNames.Count);

        var frozen = model.state_dict()["blocks.0.attn.q_proj.weight"].clone();
        var ids = torch.randint(0, 37, [2, 8], ScalarType.Int64, generator: new Generator(5));
        functional.cross_entropy(model.call(ids).reshape(-1, 37), ids.reshape(-1)).backward();
        opt.step();
        Assert.True(model.state_dict()["blocks.0.attn.q_proj.weight"].equal(frozen).all().item<bool>());
        Assert.False(model.state_dict()["blocks.0.attn.q_proj.lora_b"].abs().sum().item<float>() == 0);
    }
}
