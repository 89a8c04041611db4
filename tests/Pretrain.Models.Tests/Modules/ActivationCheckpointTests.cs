using Pretrain.Models.Modules;
using Pretrain.Models.Peft;
using Pretrain.Models.Tests.Peft;
using Pretrain.Models.Text;
using Pretrain.Models.Vision;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Pretrain.Models.Tests.Modules;

/// <summary>
/// Activation checkpointing: the same gradients as without (dropout on, so the masks must be replayed), the RNG left
/// where the plain forward/backward leaves it, less memory held after forward, and no tensors leaked per step.
/// </summary>
[Collection("torch")]
public sealed class ActivationCheckpointTests(ITestOutputHelper output)
{
    public static TheoryData<string, bool, int> Cases()
    {
        var data = new TheoryData<string, bool, int>();
        foreach (var arch in new[] { "gpt2", "llama", "bert", "vit" })
        {
            data.Add(arch, false, 1);
            data.Add(arch, true, 1);
        }
        data.Add("mae", false, 1);   // MAE's encoder and decoder; LoRA is not offered for MAE
        data.Add("gpt2", false, 2);
        data.Add("bert", true, 2);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Gradients_with_checkpointing_equal_those_without_under_dropout(string arch, bool lora, int every)
    {
        var (plainGrads, plainLoss, plainRng) = Step(arch, lora, checkpointing: null);
        var (ckptGrads, ckptLoss, ckptRng) = Step(arch, lora, new ActivationCheckpointing { Every = every });

        Assert.Equal(plainLoss, ckptLoss, 6);
        Assert.Equal(plainGrads.Keys.Order(), ckptGrads.Keys.Order());
        Assert.NotEmpty(plainGrads);
        foreach (var (name, g) in plainGrads)
        {
            double diff = (g - ckptGrads[name]).abs().max().item<float>();
            Assert.True(diff <= 1e-6, $"{arch}{(lora ? "+lora" : "")}: {name} differs by {diff}");
        }
        // The step leaves the CPU generator where the plain step leaves it: later dropout draws are unchanged.
        Assert.Equal(plainRng, ckptRng);
        foreach (var g in plainGrads.Values.Concat(ckptGrads.Values))
            g.Dispose();
    }

    [Fact]
    public void Without_replaying_the_generator_dropout_masks_would_differ()
    {
        // Guards the test above: two forwards of the same dropout model from different generator states disagree,
        // so equal gradients there mean the recomputation really replayed the masks.
        using var scope = torch.NewDisposeScope();
        using var model = Build("gpt2", lora: false, checkpointing: null);
        model.train();
        var input = Input("gpt2");
        torch.manual_seed(5);
        var a = Forward(model, input);
        var b = Forward(model, input);
        Assert.False(a.allclose(b));
    }

    [Theory]
    [InlineData("gpt2")]
    [InlineData("bert")]
    [InlineData("vit")]
    public void Less_memory_is_held_after_forward(string arch)
    {
        long plain = HeldAfterForward(arch, checkpointing: null);
        long ckpt = HeldAfterForward(arch, new ActivationCheckpointing());
        output.WriteLine($"{arch}: held after forward {plain / 1e6:F2} MB plain, {ckpt / 1e6:F2} MB checkpointed");
        // What remains with checkpointing: each block's input, the output-sized buffer TorchSharp's node allocates,
        // the embeddings, the final norm and the output (docs/activation-checkpointing.md has the figures).
        Assert.True(ckpt * 3 < plain, $"{arch}: {ckpt / 1e6:F2} MB held after forward with checkpointing, {plain / 1e6:F2} MB without");
    }

    [Fact]
    public void Live_tensor_count_stays_flat_over_many_steps()
    {
        using var model = Build("llama", lora: true, new ActivationCheckpointing());
        model.train();
        using var input = Input("llama");
        var counts = new List<long>();
        for (int step = 0; step < 20; step++)
        {
            using (var scope = torch.NewDisposeScope())
            {
                foreach (var p in model.parameters())
                    p.grad = null;
                Forward(model, input).square().mean().backward();
            }
            counts.Add(Tensor.TotalCount);   // no GC here: a wrapper left to the finalizer would show as growth
        }
        var settled = counts.Skip(2).ToList();
        Assert.True(settled.Max() == settled.Min(), $"live tensors vary from {settled.Min()} to {settled.Max()}");
    }

    [Fact]
    public void Without_grad_the_blocks_run_plainly()
    {
        using var scope = torch.NewDisposeScope();
        using var plain = Build("gpt2", lora: false, checkpointing: null);
        using var ckpt = Build("gpt2", lora: false, new ActivationCheckpointing());
        plain.eval();
        ckpt.eval();
        var input = Input("gpt2");
        using var _ = torch.no_grad();
        Assert.True(Forward(plain, input).allclose(Forward(ckpt, input), rtol: 0, atol: 0));
    }

    [Fact]
    public void Every_below_one_is_refused_naming_the_key()
    {
        var e = Assert.Throws<ArgumentException>(() => new DecoderLm(TinyConfigs.Gpt2(), checkpointing: new ActivationCheckpointing { Every = 0 }));
        Assert.Contains("train.activation_checkpointing_every", e.Message);
    }

    /// <summary>One training forward/backward from a fixed seed: gradients by name, loss, and the generator state after.</summary>
    private static (Dictionary<string, Tensor> Grads, double Loss, byte[] Rng) Step(string arch, bool lora, ActivationCheckpointing? checkpointing)
    {
        using var model = Build(arch, lora, checkpointing);
        model.train();
        using var scope = torch.NewDisposeScope();
        var input = Input(arch);
        torch.manual_seed(123);
        var output = Forward(model, input);
        using var g = new Generator(9);
        var weights = torch.randn(output.shape, generator: g);
        var loss = (output * weights).sum();
        loss.backward();
        var grads = new Dictionary<string, Tensor>();
        foreach (var (name, p) in model.named_parameters())
        {
            if (p.requires_grad)
                grads[name] = scope.MoveToOuter(p.grad!.clone());
        }
        using var state = torch.get_rng_state();
        return (grads, loss.item<float>(), state.bytes.ToArray());
    }

    /// <summary>Bytes malloc'd and still in use once a training forward has run and only its output is referenced.</summary>
    private static long HeldAfterForward(string arch, ActivationCheckpointing? checkpointing)
    {
        using var model = Build(arch, lora: false, checkpointing, large: true);
        model.train();
        using var input = Input(arch, large: true);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long before = MallocStats.InUse();
        Tensor loss;
        using (var scope = torch.NewDisposeScope())
            loss = scope.MoveToOuter(Forward(model, input).square().mean());  // every other wrapper freed: what remains is held by the graph
        long held = MallocStats.InUse() - before;
        loss.backward();   // the graph is still whole
        loss.Dispose();
        foreach (var p in model.parameters())
            p.grad = null;
        return held;
    }

    private sealed class MaeModel : nn.Module<Tensor, Tensor>
    {
        private readonly VisionTransformer encoder;
        private readonly MaeDecoder decoder;

        public MaeModel(ActivationCheckpointing? checkpointing) : base(nameof(MaeModel))
        {
            var config = TinyEncoderConfigs.Vit(posEmbed: "sincos") with { Dropout = 0.1, AttentionDropout = 0.1 };
            encoder = new VisionTransformer(config, checkpointing: checkpointing);
            decoder = new MaeDecoder(config, TinyEncoderConfigs.MaeDecoder() with { NumLayers = 2 }, checkpointing);
            RegisterComponents();
        }

        public override Tensor forward(Tensor images)
        {
            var keep = torch.tensor(new long[,] { { 3, 1, 7, 12 }, { 0, 5, 9, 15 } });         // (B, K)
            var shuffle = torch.cat([keep, torch.tensor(new long[,] {
                { 0, 2, 4, 5, 6, 8, 9, 10, 11, 13, 14, 15 }, { 1, 2, 3, 4, 6, 7, 8, 10, 11, 12, 13, 14 } })], 1); // (B, N)
            return decoder.call(encoder.ForwardVisible(images, keep), shuffle.argsort(1));
        }
    }

    private static nn.Module Build(string arch, bool lora, ActivationCheckpointing? checkpointing, bool large = false)
    {
        var loraConfig = lora ? new LoraConfig { Rank = 4, Dropout = 0.1, Targets = ["q_proj", "v_proj", "down_proj"] } : null;
        nn.Module model = arch switch
        {
            "gpt2" or "llama" => new DecoderLm(large
                ? TinyConfigs.Gpt2() with { MaxSeqLen = 256, EmbedDim = 64, NumLayers = 4 }
                : TinyConfigs.ByArch(arch) with { Dropout = 0.1, NumLayers = 3 }, loraConfig, checkpointing),
            "bert" => new EncoderLm(large
                ? TinyEncoderConfigs.Bert() with { MaxSeqLen = 256, EmbedDim = 64, NumLayers = 4, MlpHiddenDim = 256, Dropout = 0, AttentionDropout = 0 }
                : TinyEncoderConfigs.Bert() with { NumLayers = 3 }, loraConfig, checkpointing),
            "vit" => new VisionTransformer(large
                ? TinyEncoderConfigs.Vit() with { ImageSize = 64, EmbedDim = 64, NumLayers = 4, MlpHiddenDim = 256 }
                : TinyEncoderConfigs.Vit() with { Dropout = 0.1, AttentionDropout = 0.1, NumLayers = 3 }, loraConfig, checkpointing),
            _ => new MaeModel(checkpointing),
        };
        TestWeights.Randomize(model, 1);
        if (lora)
        {
            LoraModels.RandomizeAdapters(model, 2);
            LoraModel.FreezeBase(model);   // embeddings frozen too: the first block's input needs no gradient
        }
        return model;
    }

    private static Tensor Input(string arch, bool large = false)
    {
        using var g = new Generator(11);
        return arch switch
        {
            "gpt2" or "llama" => torch.randint(0, 37, [2, large ? 256 : 9], ScalarType.Int64, generator: g),
            "bert" => torch.randint(0, 41, [2, large ? 256 : 9], ScalarType.Int64, generator: g),
            _ => torch.randn([2, 3, large ? 64 : 16, large ? 64 : 16], generator: g),
        };
    }

    /// <summary>
    /// The model's output; the llama decoder with two packed documents (block-diagonal causal mask, positions
    /// restarting) and the encoder with a padded row, so the blocks' extra inputs go through the checkpoint.
    /// </summary>
    private static Tensor Forward(nn.Module model, Tensor input)
    {
        switch (model)
        {
            case DecoderLm d when d.Config.IsLlama:
                long t = input.shape[1], split = t / 2;
                var doc = torch.cat([torch.zeros(split, ScalarType.Int64), torch.ones(t - split, ScalarType.Int64)]);   // (T,)
                var same = doc.unsqueeze(0).eq(doc.unsqueeze(1));                                                        // (T, T)
                var mask = same.logical_and(torch.ones(t, t, ScalarType.Bool).tril()).expand(input.shape[0], 1, t, t);   // (B, 1, T, T)
                var positions = torch.cat([torch.arange(split), torch.arange(t - split)]).expand(input.shape[0], t);     // (B, T)
                return d.forward(input, positions, mask);
            case DecoderLm d:
                return d.call(input);
            case EncoderLm e:
                var attention = torch.ones(input.shape, ScalarType.Int64);
                attention[1, ((int)input.shape[1] - 3)..] = torch.tensor(0L);   // the second row ends in padding
                return e.call(input, attention, null);
            case VisionTransformer v:
                return v.call(input);
            case MaeModel m:
                return m.call(input);
            default:
                throw new ArgumentException(model.GetType().Name);
        }
    }
}
