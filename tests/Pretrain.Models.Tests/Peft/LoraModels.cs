using Pretrain.Models.Peft;
using Pretrain.Models.Text;
using Pretrain.Models.Vision;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Models.Tests.Peft;

/// <summary>Tiny models of the four architectures, with or without LoRA, and one input batch each.</summary>
internal static class LoraModels
{
    public static readonly string[] Archs = ["gpt2", "llama", "bert", "vit"];

    /// <summary>A model of <paramref name="arch"/> built with <paramref name="lora"/>; weights from the seeded init.</summary>
    public static nn.Module Build(string arch, LoraConfig? lora, long seed = 3)
    {
        switch (arch)
        {
            case "gpt2" or "llama" or "phi3":
                var d = new DecoderLm(arch == "phi3" ? TinyConfigs.Llama() with { Layout = "phi3" } : TinyConfigs.ByArch(arch), lora);
                d.InitializeWeights(seed);
                return d;
            case "bert":
                var e = new EncoderLm(TinyEncoderConfigs.Bert(), lora);
                e.InitializeWeights(seed);
                return e;
            default:
                var v = new VisionTransformer(TinyEncoderConfigs.Vit(), lora);
                v.InitializeWeights(seed);
                return v;
        }
    }

    /// <summary>A fixed input batch for <paramref name="arch"/>.</summary>
    public static Tensor Input(string arch)
    {
        using var g = new Generator(11);
        return arch switch
        {
            "gpt2" or "llama" or "phi3" => torch.randint(0, 37, [2, 7], ScalarType.Int64, generator: g),
            "bert" => torch.randint(0, 41, [2, 7], ScalarType.Int64, generator: g),
            _ => torch.randn([2, 3, 16, 16], generator: g),
        };
    }

    /// <summary>The model's main output for <paramref name="input"/>.</summary>
    public static Tensor Forward(nn.Module model, Tensor input) => model switch
    {
        DecoderLm d => d.call(input),
        EncoderLm e => e.call(input, null, null),
        VisionTransformer v => v.call(input),
        _ => throw new ArgumentException(model.GetType().Name),
    };

    /// <summary>Sets every B to random values so the adapters change the output.</summary>
    public static void RandomizeAdapters(nn.Module model, int seed)
    {
        using var g = new Generator((ulong)seed);
        using var _ = torch.no_grad();
        foreach (var (name, p) in model.named_parameters().Where(p => p.name.EndsWith("lora_b", StringComparison.Ordinal)))
        {
            using var draw = torch.randn(p.shape, generator: g);
            p.copy_(draw * 0.3);
        }
    }

    /// <summary>Copies every parameter and buffer of <paramref name="source"/> that <paramref name="target"/> has.</summary>
    public static void CopyShared(nn.Module source, nn.Module target)
    {
        var sd = source.state_dict();
        using var _ = torch.no_grad();
        foreach (var (name, t) in target.state_dict())
        {
            if (sd.TryGetValue(name, out var s))
                t.copy_(s);
        }
    }

    public static float MaxDiff(Tensor a, Tensor b)
    {
        using var d = (a - b).abs().max();
        return d.item<float>();
    }
}
