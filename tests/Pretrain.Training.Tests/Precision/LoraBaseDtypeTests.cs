using Pretrain.Models.Peft;
using Pretrain.Models.Text;
using Pretrain.Models.Weights;
using Pretrain.Training.Precision;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Pretrain.Training.Tests.Precision;

/// <summary>
/// lora.base_dtype: bf16: the frozen linear weights are held in bf16 (half their bytes) while adapters, heads, norms
/// and embeddings stay fp32. Under bf16-mixed autocast casts an fp32 base to bf16 for every matmul anyway, so the
/// bf16 base computes the same outputs and adapter gradients; checkpoints stay fp32.
/// </summary>
[Collection("torch")]
public sealed class LoraBaseDtypeTests
{
    private static readonly DecoderLmConfig Config = new() { VocabSize = 37, MaxSeqLen = 8, EmbedDim = 24, NumLayers = 2, NumHeads = 2, Dropout = 0 };
    private static readonly LoraConfig Lora = new() { Rank = 2, Alpha = 4, Dropout = 0, Targets = ["q_proj", "v_proj", "up_proj"] };

    private static DecoderLm Build(string baseDtype)
    {
        random.manual_seed(7);
        var model = new DecoderLm(Config, Lora);
        using (no_grad())
        {
            foreach (var (name, p) in model.named_parameters().Where(p => p.name.EndsWith("lora_b", StringComparison.Ordinal)))
                p.normal_(0, 0.2);   // non-zero adapters, so they take part in the output
        }
        LoraModel.FreezeBase(model, "*norm*");
        new PrecisionPolicy("bf16-mixed", DeviceType.CPU).PrepareModel(model, baseDtype);
        return model;
    }

    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.equal(b).all().item<bool>();

    private static long Bytes(IEnumerable<TorchSharp.Modules.Parameter> ps) => ps.Sum(p => p.numel() * p.ElementSize);

    [Fact]
    public void ABf16BaseHalvesTheFrozenLinearWeightsAndComputesAsTheFp32BaseUnderBf16Mixed()
    {
        using var scope = NewDisposeScope();
        var fp32 = Build("fp32");
        var bf16 = Build("bf16");
        var frozenLinear = new Func<(string name, TorchSharp.Modules.Parameter p), bool>(x =>
            !x.p.requires_grad && x.p.dim() == 2 && !x.name.Contains("embed", StringComparison.Ordinal));
        var baseFp32 = fp32.named_parameters().Where(frozenLinear).Select(x => x.Item2).ToList();
        var baseBf16 = bf16.named_parameters().Where(frozenLinear).Select(x => x.Item2).ToList();
        Assert.NotEmpty(baseBf16);
        Assert.All(baseBf16, p => Assert.Equal(ScalarType.BFloat16, p.dtype));
        Assert.Equal(Bytes(baseFp32), 2 * Bytes(baseBf16));
        Assert.True(Bytes(bf16.parameters()) < Bytes(fp32.parameters()));
        foreach (var (name, p) in bf16.named_parameters().Where(x => x.parameter.requires_grad || x.name.Contains("embed", StringComparison.Ordinal) || x.name.Contains("norm", StringComparison.Ordinal)))
            Assert.True(p.dtype == ScalarType.Float32, $"{name} is {p.dtype}; adapters, norms and embeddings stay fp32");

        var tokens = randint(0, Config.VocabSize, [2, 8]);
        var policy = new PrecisionPolicy("bf16-mixed", DeviceType.CPU);
        Tensor Forward(DecoderLm m)
        {
            using var _ = policy.Autocast();
            var logits = m.call(tokens).to_type(ScalarType.Float32);
            nn.functional.cross_entropy(logits.reshape(-1, Config.VocabSize), tokens.reshape(-1)).backward();
            return logits;
        }
        var a = Forward(fp32);
        var b = Forward(bf16);
        Assert.True(Same(a, b), $"logits differ: max |Δ| {(a - b).abs().max().item<float>()}");
        var gradsA = fp32.named_parameters().Where(x => x.parameter.requires_grad).ToDictionary(x => x.name, x => x.parameter.grad!);
        foreach (var (name, p) in bf16.named_parameters().Where(x => x.parameter.requires_grad))
            Assert.True(Same(p.grad!, gradsA[name]), $"gradient of {name} differs");

        // And close to an all-fp32 forward (bf16's 8-bit mantissa): the model still computes what it did.
        var exact = fp32.call(tokens);
        double scale = exact.abs().max().item<float>();
        Assert.True((exact - b).abs().max().item<float>() < 0.05 * scale, "bf16 base is far from the fp32 model");
    }

    [Fact]
    public void ALoraRunWithABf16BaseTrainsAsTheFp32BaseAndWritesFp32Checkpoints()
    {
        using var dir = new TempDir();
        TinyRun.Run(TinyRun.Recipe(dir, "base", maxSteps: 4), dir["base"]);
        string Recipe(string baseDtype)
        {
            var path = TinyRun.Recipe(dir, "lora-" + baseDtype, maxSteps: 4);
            File.AppendAllText(path, $"init: {{checkpoint: '{dir["base"]}'}}\nlora: {{rank: 2, alpha: 4, dropout: 0, targets: [q_proj, v_proj, up_proj], save_full: true, base_dtype: {baseDtype}}}\n");
            return path;
        }
        string[] sets = ["train.precision=bf16-mixed", "train.eval_every=4"];
        TinyRun.Run(Recipe("fp32"), dir["fp32"], sets);
        TinyRun.Run(Recipe("bf16"), dir["bf16"], sets);
        string Step(string run) => Path.Combine(dir[run], "checkpoints", "step-00000004");

        using var scope = NewDisposeScope();
        foreach (var file in new[] { "adapter_model.safetensors", "model.safetensors" })
            Assert.All(Safetensors.Load(Path.Combine(Step("bf16"), file)), kv => Assert.Equal(ScalarType.Float32, kv.Value.dtype));
        // The same adapters, bit for bit: autocast rounds an fp32 base to bf16 exactly as holding it in bf16 does.
        Assert.Equal(File.ReadAllBytes(Path.Combine(Step("fp32"), "adapter_model.safetensors")),
                     File.ReadAllBytes(Path.Combine(Step("bf16"), "adapter_model.safetensors")));
        // The merged export folds the adapter into an fp32 copy of the bf16 base: close to the fp32 base's merge,
        // and not rounded to bf16 (the update would be lost in the base's rounding otherwise).
        var merged = Safetensors.Load(Path.Combine(Step("bf16"), "model.safetensors"));
        var reference = Safetensors.Load(Path.Combine(Step("fp32"), "model.safetensors"));
        var qkv = merged.Keys.Single(k => k.EndsWith("h.0.attn.c_attn.weight", StringComparison.Ordinal));
        Assert.True(merged[qkv].allclose(reference[qkv], rtol: 1e-2, atol: 1e-3), "merged bf16-base weights are far from the fp32 base's");
        Assert.False(Same(merged[qkv].to_type(ScalarType.BFloat16).to_type(ScalarType.Float32), merged[qkv]), "the merged weight was rounded to bf16");
    }
}
