using System.Text.RegularExpressions;
using Pretrain.Models.Heads;
using Pretrain.Models.Text;
using Pretrain.Models.Vision;
using Pretrain.Models.Weights;
using static TorchSharp.torch;

namespace Pretrain.Models.Peft;

/// <summary>
/// The explicit map from our module paths to the Hugging Face module paths PEFT names adapters by, per architecture:
/// GPT2LMHeadModel (<c>transformer.h.{i}.attn.c_attn</c>, q/k/v fused), LlamaForCausalLM
/// (<c>model.layers.{i}.self_attn.q_proj</c>), Phi3ForCausalLM (<c>model.layers.{i}.self_attn.qkv_proj</c> and
/// <c>mlp.gate_up_proj</c>, fused as its checkpoints are), BERT task models (<c>bert.encoder.layer.{i}.attention.self.query</c>) and
/// ViT task models (<c>vit.encoder.layer.{i}.attention.attention.query</c>).
/// </summary>
internal static partial class PeftArch
{
    /// <summary>A base-model tensor under its Hugging Face name (task prefix included), and how ours maps to it.</summary>
    /// <param name="Target">Our parameter; null when the Hugging Face tensor fuses several of ours (GPT-2 c_attn).</param>
    /// <param name="Transposed">GPT-2 Conv1D: the Hugging Face tensor is ours transposed.</param>
    /// <param name="IsHead">The tensor belongs to a head given beside the backbone (saved whole).</param>
    internal sealed record BaseTensor(string HfName, string OurName, Tensor? Target, bool Transposed, bool IsHead);

    public static string Of(nn.Module model) => model switch
    {
        DecoderLm d => !d.Config.IsLlama ? "gpt2" : d.Config.Layout == "phi3" ? "phi3" : "llama",
        EncoderLm => "bert",
        VisionTransformer => "vit",
        _ => throw new ArgumentException($"PEFT adapters are defined for DecoderLm, EncoderLm and VisionTransformer, not {model.GetType().Name}."),
    };

    /// <summary>Number of blocks of the model.</summary>
    public static int NumLayers(nn.Module model) => model switch
    {
        DecoderLm d => d.Config.NumLayers,
        EncoderLm e => e.Config.NumLayers,
        VisionTransformer v => v.Config.NumLayers,
        _ => throw new ArgumentException(model.GetType().Name),
    };

    /// <summary>The LoRA settings the model was built with.</summary>
    public static LoraConfig? Lora(nn.Module model) => model switch
    {
        DecoderLm d => d.Lora,
        EncoderLm e => e.Lora,
        VisionTransformer v => v.Lora,
        _ => null,
    };

    /// <summary>PEFT's <c>layers_pattern</c>: the Hugging Face name of the block list.</summary>
    public static string LayersPattern(string arch) => arch switch { "gpt2" => "h", "llama" or "phi3" => "layers", _ => "layer" };

    /// <summary>The module path prefix up to the block index, task prefix included.</summary>
    public static string BlockPrefix(string arch) => arch switch
    {
        "gpt2" => "transformer.h.",
        "llama" or "phi3" => "model.layers.",
        "bert" => "bert.encoder.layer.",
        _ => "vit.encoder.layer.",
    };

    /// <summary>The Hugging Face path of one of our projections inside a block (<c>q_proj</c> → <c>attention.self.query</c>).</summary>
    public static string InBlock(string arch, string ours) => (arch, ours) switch
    {
        ("gpt2", "q_proj" or "k_proj" or "v_proj") => "attn.c_attn",
        ("gpt2", "o_proj") => "attn.c_proj",
        ("gpt2", "up_proj") => "mlp.c_fc",
        ("gpt2", "down_proj") => "mlp.c_proj",
        ("llama", "q_proj" or "k_proj" or "v_proj" or "o_proj") => "self_attn." + ours,
        ("llama", "gate_proj" or "up_proj" or "down_proj") => "mlp." + ours,
        ("phi3", "q_proj" or "k_proj" or "v_proj") => "self_attn.qkv_proj",
        ("phi3", "o_proj") => "self_attn.o_proj",
        ("phi3", "gate_proj" or "up_proj") => "mlp.gate_up_proj",
        ("phi3", "down_proj") => "mlp.down_proj",
        ("bert", "q_proj") => "attention.self.query",
        ("bert", "k_proj") => "attention.self.key",
        ("bert", "v_proj") => "attention.self.value",
        ("vit", "q_proj") => "attention.attention.query",
        ("vit", "k_proj") => "attention.attention.key",
        ("vit", "v_proj") => "attention.attention.value",
        ("bert" or "vit", "o_proj") => "attention.output.dense",
        ("bert" or "vit", "up_proj") => "intermediate.dense",
        ("bert" or "vit", "down_proj") => "output.dense",
        _ => throw new ArgumentException($"Architecture {arch} has no projection '{ours}'."),
    };

    /// <summary>Our projection names that exist in the architecture.</summary>
    public static IEnumerable<string> Projections(string arch) =>
        LoraConfig.KnownTargets.Where(t => arch is "llama" or "phi3" || t != "gate_proj");

    /// <summary>Linear modules outside the blocks, which a short target name must not match by accident.</summary>
    public static IEnumerable<string> OtherLinears(string arch) => arch switch
    {
        "gpt2" or "llama" or "phi3" => ["lm_head"],
        "bert" => ["bert.pooler.dense", "cls.predictions.transform.dense", "classifier"],
        _ => ["vit.pooler.dense", "classifier"],
    };

    /// <summary>
    /// Our projections that one Hugging Face module fuses, in its row order (GPT-2's c_attn and Phi-3's qkv_proj:
    /// q, k, v; Phi-3's gate_up_proj: gate, up), or null when <paramref name="ours"/> is a module of its own.
    /// </summary>
    public static string[]? FusedWith(string arch, string ours) => (arch, ours) switch
    {
        ("gpt2" or "phi3", "q_proj" or "k_proj" or "v_proj") => ["q_proj", "k_proj", "v_proj"],
        ("phi3", "gate_proj" or "up_proj") => ["gate_proj", "up_proj"],
        _ => null,
    };

    /// <summary>
    /// The Hugging Face module path of one of our LoRA layers (<c>blocks.3.attn.q_proj</c> →
    /// <c>transformer.h.3.attn.c_attn</c>), with its part in a fused module (<see cref="FusedWith"/>), else −1.
    /// </summary>
    public static (string HfPath, int Part, int Layer, string Ours) Module(string arch, string ourPath)
    {
        var m = BlockModuleRegex().Match(ourPath);
        if (!m.Success)
            throw new ArgumentException($"'{ourPath}' is not a projection inside a block; PEFT adapters are defined for those only.");
        var (layer, name) = (int.Parse(m.Groups[1].Value), m.Groups[2].Value);
        var part = FusedWith(arch, name) is { } fused ? Array.IndexOf(fused, name) : -1;
        return (BlockPrefix(arch) + layer + "." + InBlock(arch, name), part, layer, name);
    }

    /// <summary>One of our projections inside a PEFT module: its rows there, and its LoRA layer or, untargeted, its frozen weight.</summary>
    internal sealed record ModulePart(string Ours, long Offset, long Rows, LoraLinear? Layer, Tensor? FrozenWeight);

    /// <summary>A PEFT module of a block that holds at least one of our LoRA layers, with every projection it spans.</summary>
    internal sealed record ModuleGroup(string HfPath, IReadOnlyList<ModulePart> Parts)
    {
        public bool Fused => Parts.Count > 1;

        public long Rows => Parts.Sum(p => p.Rows);

        public IEnumerable<ModulePart> Targeted => Parts.Where(p => p.Layer is not null);
    }

    /// <summary>
    /// The PEFT modules that hold the model's LoRA layers, in module order. A fused module (GPT-2 c_attn, Phi-3
    /// qkv_proj / gate_up_proj) lists all its projections with their row offsets, the untargeted ones as plain linears.
    /// </summary>
    public static List<ModuleGroup> Groups(nn.Module model, string arch)
    {
        var modules = model.named_modules().ToDictionary(m => m.name, m => m.module, StringComparer.Ordinal);
        var groups = new List<ModuleGroup>();
        foreach (var g in LoraModel.Layers(model).Select(l => (l.Name, Module: Module(arch, l.Name))).GroupBy(x => x.Module.HfPath))
        {
            var (name, module) = g.First();
            if (FusedWith(arch, module.Ours) is not { } fused)
            {
                var layer = (LoraLinear)modules[name];
                groups.Add(new ModuleGroup(g.Key, [new ModulePart(module.Ours, 0, layer.LoraB.shape[0], layer, null)]));
                continue;
            }
            var parent = name[..(name.LastIndexOf('.') + 1)];
            var parts = new List<ModulePart>();
            long offset = 0;
            foreach (var part in fused)
            {
                var (layer, frozen) = modules[parent + part] switch
                {
                    LoraLinear l => (l, (Tensor?)null),
                    TorchSharp.Modules.Linear l => ((LoraLinear?)null, (Tensor)l.weight!),
                    var other => throw new ArgumentException($"'{parent + part}' is a {other.GetType().Name}, not a linear layer."),
                };
                var rows = layer?.LoraB.shape[0] ?? frozen!.shape[0];
                parts.Add(new ModulePart(part, offset, rows, layer, frozen));
                offset += rows;
            }
            groups.Add(new ModuleGroup(g.Key, parts));
        }
        return groups;
    }

    /// <summary>
    /// Every non-LoRA tensor of the model (and of <paramref name="classifier"/>) under its Hugging Face name, from the
    /// key maps of Weights/: what modules_to_save entries are written as and read from.
    /// </summary>
    public static List<BaseTensor> BaseTensors(nn.Module model, ClassifierHead? classifier)
    {
        var result = new List<BaseTensor>();
        switch (model)
        {
            case DecoderLm d:
                var ours = d.named_parameters().Where(p => !LoraLinear.IsAdapterParameter(p.name))
                    .ToDictionary(p => p.name, p => (Tensor)p.parameter, StringComparer.Ordinal);
                foreach (var spec in HfDecoderKeyMap.Specs(d.Config, ours.Keys))
                {
                    var single = spec.Ours.Length == 1;
                    result.Add(new BaseTensor(spec.HfName, string.Join("+", spec.Ours), single ? ours[spec.Ours[0]] : null,
                        spec.Transform == HfTransform.Transpose, IsHead: false));
                }
                break;
            case EncoderLm e:
                foreach (var entry in HfEncoderKeyMap.Entries(e, null, classifier))
                    result.Add(Entry(entry, HfEncoderKeyMap.IsBackbone(entry.HfName) ? HfEncoderKeyMap.Prefix : ""));
                break;
            case VisionTransformer v:
                foreach (var entry in HfVitKeyMap.Entries(v, classifier, null).Where(x => !x.Fixed))
                    result.Add(Entry(entry, HfVitKeyMap.IsBackbone(entry.HfName) ? HfVitKeyMap.Prefix : ""));
                break;
            default:
                throw new ArgumentException(model.GetType().Name);
        }
        return result;
    }

    private static BaseTensor Entry(HfEntry e, string prefix) =>
        new(prefix + e.HfName, e.OurName, e.Target, Transposed: false, IsHead: prefix.Length == 0);

    [GeneratedRegex(@"^blocks\.(\d+)\.(?:attn|mlp)\.(\w+)$")]
    private static partial Regex BlockModuleRegex();
}
