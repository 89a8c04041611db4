using Pretrain.Models.Text;
using Pretrain.Models.Weights;
using Pretrain.Training.Metrics;
using Pretrain.Training.Precision;
using Pretrain.Training.Recipes;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;
using AdamW = Pretrain.Training.Optim.AdamW;
using Parameter = TorchSharp.Modules.Parameter;

namespace Pretrain.Training.Tests.Precision;

/// <summary>
/// train.precision: bf16 (pure): weights and AdamW moments in bf16, half the bytes of fp32; the optimizer updates the
/// model's own parameters; checkpoints hold the weights upcast to fp32 and resume bit for bit.
/// </summary>
[Collection("torch")]
public sealed class PureBf16Tests
{
    private static readonly DecoderLmConfig Config = new() { VocabSize = 37, MaxSeqLen = 8, EmbedDim = 24, NumLayers = 2, NumHeads = 2 };

    private static (DecoderLm Model, AdamW Optimizer) Build(string mode)
    {
        random.manual_seed(5);
        var model = new DecoderLm(Config);
        new PrecisionPolicy(mode, DeviceType.CPU).PrepareModel(model);
        var opt = new AdamW(model.named_parameters().Select(p => (p.name, p.parameter)), (_, p) => p.dim() >= 2, 3e-3, 0.9, 0.95, 1e-8, 0.1);
        return (model, opt);
    }

    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.equal(b).all().item<bool>();

    private static long Bytes(IEnumerable<Tensor> tensors) => tensors.Sum(t => t.numel() * t.ElementSize);

    [Fact]
    public void WeightsAndOptimizerStateTakeHalfTheBytesAndTheOptimizerStepsTheModelsOwnParameters()
    {
        using var scope = NewDisposeScope();
        var (fp32, fp32Opt) = Build("fp32");
        var (bf16, bf16Opt) = Build("bf16");
        using var o1 = fp32Opt;
        using var o2 = bf16Opt;
        Assert.All(bf16.parameters(), p => Assert.Equal(ScalarType.BFloat16, p.dtype));
        long fp32Bytes = Bytes(fp32.parameters()) + Bytes(fp32Opt.StateTensors().Values);
        long bf16Bytes = Bytes(bf16.parameters()) + Bytes(bf16Opt.StateTensors().Values);
        Assert.Equal(fp32Bytes, 2 * bf16Bytes);
        Assert.All(bf16Opt.StateTensors().Values, t => Assert.Equal(ScalarType.BFloat16, t.dtype));

        // One step under the policy's autocast: the model's parameters (the objects it computes with) move, in bf16.
        var before = bf16.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().clone());
        var tokens = randint(0, Config.VocabSize, [2, 8]);
        using (new PrecisionPolicy("bf16", DeviceType.CPU).Autocast())
        {
            var logits = bf16.call(tokens);
            var loss = nn.functional.cross_entropy(logits.reshape(-1, Config.VocabSize), tokens.reshape(-1));
            Assert.Equal(ScalarType.Float32, loss.dtype);
            loss.backward();
        }
        bf16Opt.step();
        foreach (var (name, p) in bf16.named_parameters())
        {
            Assert.Equal(ScalarType.BFloat16, p.dtype);
            Assert.False(Same(p, before[name]), $"{name} did not move: the optimizer does not hold the model's parameter");
        }
    }

    [Fact]
    public void FlatAdamWInBf16IsBitwiseTorchSharpsAdamWOnBf16Parameters()
    {
        // The PyTorch convention for bf16 parameters: the same kernels, moments in the parameter's dtype.
        using var scope = NewDisposeScope();
        random.manual_seed(0);
        var w = new Parameter(randn(40, 30).to_type(ScalarType.BFloat16));
        var b = new Parameter(randn(30).to_type(ScalarType.BFloat16));
        var refW = new Parameter(w.detach().clone());
        var refB = new Parameter(b.detach().clone());
        using var opt = new AdamW([("w", w), ("b", b)], (_, p) => p.dim() >= 2, 1e-2, 0.9, 0.95, 1e-8, 0.1);
        var reference = torch.optim.AdamW([
            new TorchSharp.Modules.AdamW.ParamGroup([refW], new TorchSharp.Modules.AdamW.Options { LearningRate = 1e-2, weight_decay = 0.1, beta1 = 0.9, beta2 = 0.95, eps = 1e-8 }),
            new TorchSharp.Modules.AdamW.ParamGroup([refB], new TorchSharp.Modules.AdamW.Options { LearningRate = 1e-2, weight_decay = 0.0, beta1 = 0.9, beta2 = 0.95, eps = 1e-8 }),
        ]);
        for (int i = 0; i < 6; i++)
        {
            var x = randn(3, 40).to_type(ScalarType.BFloat16);
            (x.matmul(w) + b).to_type(ScalarType.Float32).pow(2).sum().backward();
            (x.matmul(refW) + refB).to_type(ScalarType.Float32).pow(2).sum().backward();
            opt.step();
            opt.zero_grad();
            reference.step();
            reference.zero_grad();
        }
        Assert.Equal(ScalarType.BFloat16, w.dtype);
        Assert.True(Same(w, refW), "bf16 weights differ from torch.optim.AdamW's");
        Assert.True(Same(b, refB), "bf16 biases differ from torch.optim.AdamW's");
    }

    [Fact]
    public void CheckpointFilesHoldTheBf16WeightsUpcastToFp32()
    {
        using var scope = NewDisposeScope();
        var (model, opt) = Build("bf16");
        using var _ = opt;
        using var dir = new TempDir();
        Safetensors.Save(Path.Combine(dir.Path, "model.safetensors"), HfDecoderLayout.ToHf(model));
        Assert.True(Fp32Checkpoint.HasLowerPrecision(Path.Combine(dir.Path, "model.safetensors")));
        Fp32Checkpoint.Upcast(dir.Path);
        var saved = Safetensors.Load(Path.Combine(dir.Path, "model.safetensors"));
        var live = HfDecoderLayout.ToHf(model);
        Assert.Equal(live.Keys.Order(), saved.Keys.Order());
        foreach (var (key, t) in saved)
        {
            Assert.Equal(ScalarType.Float32, t.dtype);
            Assert.True(Same(t, live[key].to_type(ScalarType.Float32)), $"{key} is not the bf16 weight upcast");
        }
    }

    [Fact]
    public void APureBf16RunLearnsWritesFp32WeightsAndResumesBitForBit()
    {
        using var dir = new TempDir();
        var recipe = TinyRun.Recipe(dir, maxSteps: 12);
        string[] sets = ["train.precision=bf16", "train.checkpoint_every=6", "train.eval_every=6"];
        TinyRun.Run(recipe, dir["straight"], sets);
        using (var cts = new CancellationTokenSource())
            TinyRun.Run(recipe, dir["resumed"], sets, observer: new StopAfter(6, cts), cancel: cts.Token);
        TinyRun.Run(recipe, dir["resumed"], sets, resume: "auto");

        var losses = MetricsLog.Read(Path.Combine(dir["straight"], "metrics.jsonl")).Where(r => r.ContainsKey("loss"))
            .Select(r => r["loss"]!.GetValue<double>()).ToList();
        Assert.True(losses[^1] < 0.95 * losses[0], $"pure bf16 did not learn: loss {losses[0]} → {losses[^1]}");

        string Step(string run, int s) => Path.Combine(dir[run], "checkpoints", $"step-{s:D8}");
        using var scope = NewDisposeScope();
        var weights = Safetensors.Load(Path.Combine(Step("straight", 12), "model.safetensors"));
        Assert.All(weights, kv =>
        {
            Assert.Equal(ScalarType.Float32, kv.Value.dtype);
            // fp32 values that are bf16 values: the round trip through bf16 is the identity.
            Assert.True(Same(kv.Value.to_type(ScalarType.BFloat16).to_type(ScalarType.Float32), kv.Value), $"{kv.Key} holds non-bf16 values");
        });
        Assert.All(Safetensors.Load(Path.Combine(Step("straight", 12), "optimizer.safetensors")),
            kv => Assert.Equal(ScalarType.BFloat16, kv.Value.dtype));
        foreach (var file in new[] { "model.safetensors", "optimizer.safetensors" })
            Assert.Equal(File.ReadAllBytes(Path.Combine(Step("straight", 12), file)), File.ReadAllBytes(Path.Combine(Step("resumed", 12), file)));
    }

    [Theory]
    [InlineData("lora.base_dtype=fp16", "lora.base_dtype")]
    [InlineData("train.precision=fp32", "lora.base_dtype")]
    [InlineData("train.precision=fp16-mixed", "bf16 needs bf16 compute")]
    public void ABadLoraBaseDtypeCombinationIsOneClearLine(string set, string message)
    {
        using var dir = new TempDir();
        var path = TinyRun.Recipe(dir, "lora");
        File.AppendAllText(path, "init: {checkpoint: runs/none}\nlora: {rank: 2, base_dtype: bf16}\n");
        string[] sets = set.StartsWith("lora", StringComparison.Ordinal) ? [set, "train.precision=bf16-mixed"] : [set];
        var e = Assert.Throws<RecipeException>(() => TinyRun.Run(path, dir["run"], sets));
        Assert.Contains(message, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }
}
