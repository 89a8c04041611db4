using Pretrain.Models.Text;
using Pretrain.Models.Weights;
using Pretrain.Training.Optim;
using TorchSharp;
using AdamW = Pretrain.Training.Optim.AdamW;
using Parameter = TorchSharp.Modules.Parameter;
using static TorchSharp.torch;

namespace Pretrain.Training.Tests.Optim;

/// <summary>
/// The flat-buffer <see cref="AdamW"/> against <see cref="PerParameterAdamW"/> (the trainer's optimizer before it):
/// same tiny model, same gradients, bitwise the same parameters and moments; the same checkpoint format.
/// </summary>
[Collection("torch")]
public sealed class FlatAdamWTests
{
    // Width 24 and vocabulary 37: many tensors whose sizes are not multiples of the vector width, so elements that
    // are a per-parameter kernel's scalar tail sit inside the flat kernel's vector loop. The 40×1000 extra tensor
    // crosses libtorch's parallel grain (32768) so the flat buffer is split between threads at other places.
    private static DecoderLmConfig Tiny => new() { VocabSize = 37, MaxSeqLen = 16, EmbedDim = 24, NumLayers = 2, NumHeads = 4, TieEmbeddings = false };

    /// <summary>A tiny GPT plus a large extra tensor in the loss and an unused "head" (no gradient, ever).</summary>
    private sealed class Rig : IDisposable
    {
        public DecoderLm Model { get; }
        public Parameter Big { get; } = new(zeros(40, 1000));
        public Parameter Unused { get; } = new(zeros(5, 7));

        public Rig()
        {
            Model = new DecoderLm(Tiny);
            Model.InitializeWeights(3);
            using var _ = no_grad();
            Big.normal_(0, 0.02, generator: new Generator(4));
            Unused.normal_(0, 0.02, generator: new Generator(5));
        }

        public List<(string, Parameter)> Named() =>
            [.. Model.named_parameters().Select(p => (p.name, p.parameter)), ("big", Big), ("head.unused", Unused)];

        /// <summary>Two micro-batches per step (gradients accumulate), deterministic inputs per step.</summary>
        public void Backward(int step)
        {
            for (int micro = 0; micro < 2; micro++)
            {
                using var scope = NewDisposeScope();
                var ids = randint(0, 37, [2, 9], ScalarType.Int64, generator: new Generator((ulong)(100 * step + micro)));
                var logits = Model.call(ids[.., ..8]);
                var loss = nn.functional.cross_entropy(logits.reshape(-1, 37), ids[.., 1..].reshape(-1))
                    + Big.sin().mean() * 3;
                loss.backward();
            }
        }

        public Dictionary<string, Tensor> Values() => Named().ToDictionary(p => p.Item1, p => (Tensor)p.Item2);

        public void Dispose()
        {
            Model.Dispose();
            Big.Dispose();
            Unused.Dispose();
        }
    }

    /// <summary>torch.equal: same shape and every element equal.</summary>
    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    private static bool Decays(string name, Parameter p) => p.dim() >= 2;

    private static AdamW Flat(Rig r) => new(r.Named(), Decays, 3e-3, 0.9, 0.95, 1e-8, 0.1);

    private static PerParameterAdamW Reference(Rig r) => new(r.Named(), Decays, 3e-3, 0.9, 0.95, 1e-8, 0.1);

    private static void Run(Rig r, Action step, Action zeroGrad, int from, int to)
    {
        for (int i = from; i < to; i++)
        {
            r.Backward(i);
            step();
            zeroGrad();
        }
    }

    private static void AssertBitwise(IReadOnlyDictionary<string, Tensor> expected, IReadOnlyDictionary<string, Tensor> actual, string what)
    {
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (name, e) in expected)
            Assert.True(Same(e, actual[name]), $"{what} '{name}' differs (max |Δ| {(e - actual[name]).abs().max().item<float>()})");
    }

    [Fact]
    public void Update_is_bitwise_the_per_parameter_AdamW_and_skips_a_parameter_without_gradient()
    {
        using var a = new Rig();
        using var b = new Rig();
        using var reference = Reference(a);
        using var flat = Flat(b);
        var unusedBefore = b.Unused.detach().clone();
        for (int i = 0; i < 6; i++)
        {
            reference.LearningRate = flat.LearningRate = 3e-3 * (1 + i) / 6;   // a schedule: lr changes every step
            a.Backward(i);
            b.Backward(i);
            reference.step();
            flat.step();
            reference.zero_grad();
            flat.zero_grad();
        }
        AssertBitwise(a.Values(), b.Values(), "parameter");
        AssertBitwise(reference.StateTensors(), flat.StateTensors(), "state");
        Assert.Equal(reference.StepCount, flat.StepCount);
        Assert.True(Same(b.Unused, unusedBefore), "a parameter that never had a gradient was updated (decay or moments)");
        Assert.Null(b.Unused.grad);
        Assert.Equal(reference.ParameterNames, flat.ParameterNames);
        Assert.Equal(reference.DecayedNames, flat.DecayedNames);
    }

    [Fact]
    public void Parameters_and_gradients_are_views_of_one_buffer_and_zero_grad_keeps_them()
    {
        using var r = new Rig();
        using var flat = Flat(r);
        var bucket = Assert.Single(flat.FlatGradients);   // one fp32 CPU group, far below 25 MiB
        long trainable = r.Named().Sum(p => p.Item2.numel());
        Assert.Equal(trainable, bucket.Count);
        Assert.Equal(trainable * 4, bucket.Bytes);
        Assert.Equal(ScalarType.Float32, bucket.Dtype);

        r.Backward(0);
        flat.step();                                       // binds each gradient to its view of the buffer
        using (no_grad())
        {
            bucket.Gradients.fill_(2.0f);                  // what an in-place all-reduce would do
        }
        Assert.Equal(2.0f, r.Big.grad!.mean().item<float>());
        Assert.Equal(2.0f, r.Model.named_parameters().First().parameter.grad!.mean().item<float>());
        Assert.Null(r.Unused.grad);

        flat.zero_grad();
        Assert.Equal(0.0f, r.Big.grad!.abs().sum().item<float>());
        Assert.Equal(0.0f, bucket.Gradients.abs().sum().item<float>());
        r.Backward(1);                                     // backward accumulates into the zeroed views
        Assert.True(bucket.Gradients.abs().sum().item<float>() > 0, "backward did not write into the flat gradient buffer");
    }

    [Fact]
    public void Buckets_cut_the_gradient_buffer_at_parameter_boundaries()
    {
        using var r = new Rig();
        using var flat = new AdamW(r.Named(), Decays, 1e-3, 0.9, 0.95, 1e-8, 0.1, bucketBytes: 16 << 10);
        var buckets = flat.FlatGradients;
        Assert.True(buckets.Count > 3);
        Assert.Equal(r.Named().Sum(p => p.Item2.numel()), buckets.Sum(b => b.Count));
        for (int i = 1; i < buckets.Count; i++) Assert.Equal(buckets[i - 1].Offset + buckets[i - 1].Count, buckets[i].Offset);
        Assert.All(buckets, b => Assert.True(b.Bytes <= 16 << 10 || b.Parameters.Count == 1, $"bucket of {b.Bytes} bytes holds {b.Parameters.Count} parameters"));
        Assert.Equal(flat.ParameterNames.Order(), buckets.SelectMany(b => b.Parameters).Order());
    }

    [Fact]
    public void Clip_norm_matches_clip_grad_norm_within_1e6_relative()
    {
        using var a = new Rig();
        using var b = new Rig();
        using var flat = Flat(b);
        var parameters = a.Named().Select(p => p.Item2).ToList();
        for (int i = 0; i < 2; i++)    // the first step binds gradients, the second accumulates into the buffer
        {
            a.Backward(i);
            b.Backward(i);
            double expected = nn.utils.clip_grad_norm_(parameters, 0.05);
            double actual = flat.ClipGradNorm(0.05);
            Assert.True(expected > 0.05, "the test must clip");
            Assert.True(Math.Abs(actual - expected) <= 1e-6 * expected, $"norm {actual} vs clip_grad_norm_ {expected}");
            foreach (var ((name, p), (_, q)) in a.Named().Zip(b.Named()))
            {
                if (p.grad is null) { Assert.Null(q.grad); continue; }
                Assert.True(p.grad.allclose(q.grad!, rtol: 1e-5, atol: 1e-9), $"clipped gradient of '{name}' differs");
            }
            foreach (var p in parameters) p.grad = null;
            flat.zero_grad();
        }
        Assert.Equal(0.0, flat.ClipGradNorm(1.0));   // nothing to clip after zero_grad: norm 0
    }

    [Fact]
    public void Resume_through_optimizer_safetensors_is_exact_from_flat_and_from_per_parameter_checkpoints()
    {
        using var dir = new TempDir();
        // Uninterrupted: 6 steps with the flat optimizer.
        using var whole = new Rig();
        using var wholeOpt = Flat(whole);
        Run(whole, wholeOpt.step, wholeOpt.zero_grad, 0, 6);

        // 3 steps, a checkpoint (weights + optimizer.safetensors), then a fresh model and optimizer resume.
        foreach (var writer in new[] { "flat", "per-parameter" })
        {
            using var first = new Rig();
            string opt = dir[$"{writer}-optimizer.safetensors"];
            Dictionary<string, Tensor> weights;
            long steps;
            if (writer == "flat")
            {
                using var o = Flat(first);
                Run(first, o.step, o.zero_grad, 0, 3);
                Safetensors.Save(opt, o.StateTensors());
                steps = o.StepCount;
            }
            else
            {
                using var o = Reference(first);
                Run(first, o.step, o.zero_grad, 0, 3);
                Safetensors.Save(opt, o.StateTensors());   // the format the trainer wrote before the flat optimizer
                steps = o.StepCount;
            }
            weights = first.Values().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());

            using var resumed = new Rig();
            using var ro = Flat(resumed);                  // built first, as RecipeRunner does, then loaded into
            using (no_grad())
            {
                foreach (var (name, p) in resumed.Named()) p.copy_(weights[name]);   // as task.LoadModel does
            }
            ro.LoadState(Safetensors.Load(opt), steps, opt);
            Run(resumed, ro.step, ro.zero_grad, 3, 6);
            AssertBitwise(whole.Values(), resumed.Values(), $"parameter (resumed from a {writer} checkpoint)");
            AssertBitwise(wholeOpt.StateTensors(), ro.StateTensors(), $"state (resumed from a {writer} checkpoint)");
        }
    }
}
