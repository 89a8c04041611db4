using Pretrain.Models.Vision;
using Pretrain.Models.Weights;
using Pretrain.Training.Metrics;
using Pretrain.Training.Tasks;
using static TorchSharp.torch;

namespace Pretrain.Training.Tests;

[Collection("torch")]
public sealed class MaskedAutoencoderTaskTests
{
    [Theory]
    [InlineData(49, 0.75, 12)]
    [InlineData(16, 0.75, 4)]
    [InlineData(196, 0.75, 49)]
    [InlineData(10, 0.5, 5)]
    public void Masking_keeps_exactly_K_distinct_patches_and_restore_inverts_the_shuffle(int n, double ratio, int k)
    {
        for (ulong key = 0; key < 20; key++)
        {
            var (keep, restore) = MaskedAutoencoderTask.Mask(key, n, ratio);
            Assert.Equal(k, keep.Length);
            Assert.Equal(k, keep.Distinct().Count());
            Assert.All(keep, i => Assert.InRange(i, 0, n - 1));
            Assert.Equal(Enumerable.Range(0, n).Select(i => (long)i), restore.Order());   // a permutation
            for (int slot = 0; slot < k; slot++)
                Assert.Equal(slot, restore[keep[slot]]);                                   // kept patch → its slot
            Assert.Equal(n - k, restore.Count(r => r >= k));                               // the rest are masked
        }
        Assert.Equal(MaskedAutoencoderTask.Mask(7, n, ratio).Keep, MaskedAutoencoderTask.Mask(7, n, ratio).Keep);
        Assert.NotEqual(MaskedAutoencoderTask.Mask(7, n, ratio).Keep, MaskedAutoencoderTask.Mask(8, n, ratio).Keep);
    }

    [Fact]
    public void Decoder_input_puts_visible_tokens_back_in_patch_order()
    {
        // Tag each visible token with its patch index and each mask token with −1, then gather as MaeDecoder does.
        const int n = 16;
        var (keep, restore) = MaskedAutoencoderTask.Mask(3, n, 0.75);
        var shuffled = tensor(keep.Select(i => (float)i).Concat(Enumerable.Repeat(-1f, n - keep.Length)).ToArray()).view(1, n, 1);
        var ordered = shuffled.gather(1, tensor(restore).view(1, n, 1)).view(n).data<float>().ToArray();
        for (int p = 0; p < n; p++)
            Assert.Equal(keep.Contains(p) ? p : -1f, ordered[p]);
    }

    [Fact]
    public void Targets_are_patches_normalised_per_patch()
    {
        using var gen = new Generator(1);
        var images = rand([2, 1, 8, 8], generator: gen) * 3 + 1;
        var raw = MaskedAutoencoderTask.Targets(images, 4, normPix: false);
        Assert.True(raw.allclose(ImagePatches.Patchify(images, 4)));
        var norm = MaskedAutoencoderTask.Targets(images, 4, normPix: true);                   // (2, 4, 16)
        Assert.True(norm.mean([-1L]).abs().max().item<float>() < 1e-5);
        Assert.True((norm.var(-1, unbiased: true, keepdim: false) - 1).abs().max().item<float>() < 1e-3);
    }

    [Fact]
    public void Loss_counts_masked_patches_only()
    {
        using var gen = new Generator(2);
        var prediction = randn([1, 4, 3], generator: gen);
        var target = randn([1, 4, 3], generator: gen);
        var mask = tensor(new float[] { 0, 1, 0, 1 }).view(1, 4);                                // patches 1, 3 hidden
        float Loss(Tensor t) => MaskedAutoencoderTask.MaskedLossSum(prediction, t, mask).item<float>();
        float baseLoss = Loss(target);
        var visibleChanged = target.clone();
        visibleChanged[0, 0, 1] = tensor(100f);
        Assert.Equal(baseLoss, Loss(visibleChanged));
        var maskedChanged = target.clone();
        maskedChanged[0, 3, 1] = tensor(100f);
        Assert.NotEqual(baseLoss, Loss(maskedChanged));
        float expected = ((prediction - target).square().mean([-1L])[0, 1] + (prediction - target).square().mean([-1L])[0, 3]).item<float>();
        Assert.Equal(expected, baseLoss, 5);
    }

    [Fact]
    public void Resume_is_bitwise_identical_gradients_reach_encoder_and_decoder_and_probes_are_in_eval_rows()
    {
        using var dir = new TempDir();
        var recipe = VisionRun.Recipe(dir, "mae", maxSteps: 8);
        TinyRun.Run(recipe, dir["straight"]);
        using (var cts = new CancellationTokenSource())
            TinyRun.Run(recipe, dir["resumed"], observer: new StopAfter(5, cts), cancel: cts.Token);
        TinyRun.Run(recipe, dir["resumed"], resume: "auto");
        string Step(string run) => Path.Combine(dir[run], "checkpoints", "step-00000008");
        Assert.Equal(File.ReadAllBytes(Path.Combine(Step("straight"), "model.safetensors")), File.ReadAllBytes(Path.Combine(Step("resumed"), "model.safetensors")));
        var rows = (string run) => MetricsLog.Read(Path.Combine(dir[run], "metrics.jsonl"));
        var curve = (string run) => rows(run).Select(r => r["loss"]?.ToString() ?? r["eval_loss"]?.ToString()).ToList();
        Assert.Equal(curve("straight"), curve("resumed"));

        var evals = rows("straight").Where(r => r["eval_loss"] is not null).ToList();
        Assert.Equal(3, evals.Count);                                                           // steps 0, 4, 8
        Assert.All(evals, r => Assert.InRange(r["eval_probe_linear"]!.GetValue<double>(), 0, 1));
        Assert.All(evals, r => Assert.InRange(r["eval_probe_knn"]!.GetValue<double>(), 0, 1));
        Assert.All(evals, r => Assert.NotNull(r["eval_probe_linear_pixels"]));

        var weights = Safetensors.Load(Path.Combine(Step("straight"), "model.safetensors"));
        Assert.Contains("vit.embeddings.patch_embeddings.projection.weight", weights.Keys);
        Assert.Contains(weights.Keys, k => k.StartsWith("decoder.", StringComparison.Ordinal));
        var moments = Safetensors.Load(Path.Combine(Step("straight"), "optimizer.safetensors"))
            .Where(kv => kv.Key.EndsWith(".exp_avg_sq", StringComparison.Ordinal)).ToList();
        Assert.Contains(moments, kv => kv.Key.StartsWith("encoder.", StringComparison.Ordinal));
        Assert.Contains(moments, kv => kv.Key.StartsWith("decoder.mask_token", StringComparison.Ordinal));
        foreach (var (name, m) in moments)
            Assert.True(m.abs().sum().item<float>() > 0, $"{name} never saw a gradient");
    }
}
