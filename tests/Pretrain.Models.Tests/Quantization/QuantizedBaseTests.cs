using System.Globalization;
using Pretrain.Models.Peft;
using Pretrain.Models.Quantization;
using Pretrain.Models.Text;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Pretrain.Models.Tests.Quantization;

/// <summary>
/// QLoRA's frozen base: the NF4 table against the paper's construction (computed independently in PyTorch), the
/// round-trip error of NF4 (with double-quantized absmax) and int8 within their bounds, the memory of a quantized
/// Llama-shaped base, and a LoRA fine-tune on an NF4 base whose loss falls. Under a second each, the python one ~2 s.
/// </summary>
[Collection("torch")]
public sealed class QuantizedBaseTests
{
    private readonly ITestOutputHelper _output;

    public QuantizedBaseTests(ITestOutputHelper output) => _output = output;

    [ReferenceFact(ReferenceTool.PythonTorch)]
    public void The_nf4_codes_are_the_normal_quantiles_the_paper_constructs()
    {
        ReferenceTools.Require(ReferenceTool.PythonTorch);
        // QLoRA §3 / Appendix E: 8 positive quantiles of N(0, 1) from offset δ = ½((1 − 1/(2·15)) + (1 − 1/(2·16)))
        // down to ½ (exclusive), 7 negative from δ, and an exact 0; normalised by the largest.
        const string code = """
            import torch
            from torch.distributions import Normal
            n, d = Normal(torch.tensor(0.0, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64)), 0.5 * ((1 - 1 / 30) + (1 - 1 / 32))
            pos = n.icdf(torch.linspace(d, 0.5, 9, dtype=torch.float64)[:-1])
            neg = -n.icdf(torch.linspace(d, 0.5, 8, dtype=torch.float64)[:-1])
            v = torch.cat([neg, torch.zeros(1, dtype=torch.float64), pos]).sort().values
            print(" ".join("%.9f" % x for x in (v / v.abs().max()).tolist()))
            """;
        var (exit, output) = ReferenceTools.RunPython(["-c", code]);
        Assert.True(exit == 0, output);
        var reference = output.Trim().Split(' ').Select(s => double.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        Assert.Equal(16, reference.Length);
        for (var i = 0; i < 16; i++)
            Assert.True(Math.Abs(reference[i] - Nf4Weight.Codes[i]) < 1e-6, $"code {i}: ours {Nf4Weight.Codes[i]}, the construction gives {reference[i]}");
    }

    [Fact]
    public void Nf4_round_trip_error_is_within_half_a_code_gap_of_each_block_absmax()
    {
        using var scope = torch.NewDisposeScope();
        var w = torch.randn([96, 200], generator: new Generator(3)) * 0.05;  // 19 200 weights: 300 blocks, two absmax groups
        w[5, 7] = 0.9f;                                                     // an outlier makes its block coarse, not the others
        using var q = Nf4Weight.Quantize(w);
        var back = q.Dequantize();
        Assert.Equal(w.shape, back.shape);
        var maxHalfGap = Enumerable.Range(0, 15).Max(i => (Nf4Weight.Codes[i + 1] - Nf4Weight.Codes[i]) / 2.0);
        var blocks = w.reshape(-1, Nf4Weight.BlockSize);
        var absmax = blocks.abs().amax([1]);                                   // exact, as quantized
        var stored = q.Absmax();                                               // double-quantized, as dequantized
        // |a·x − a'·c| ≤ a·|x − c| + |a − a'|·|c| ≤ a·halfgap + |a − a'|
        var bound = absmax * maxHalfGap + (absmax - stored).abs() + 1e-6;
        var error = (blocks - back.reshape(-1, Nf4Weight.BlockSize)).abs().amax([1]);
        Assert.True((error <= bound).all().item<bool>(), $"worst error/bound {(error / bound).max().item<float>()}");
        // Symmetric int8 over absmax − mean, one scale per 256: the outlier's block sets its group's step (±0.5 step).
        var dq = ((absmax - stored).abs() / absmax).max().item<float>();
        _output.WriteLine($"double quantization: worst relative absmax error {dq:g3}");
        Assert.True(dq < 0.05, $"double quantization of the absmax is off by {dq:P1}");
        var rel = ((w - back).pow(2).mean() / w.pow(2).mean()).sqrt().item<float>();
        _output.WriteLine($"NF4 relative RMS error {rel:g3}; {q.Bytes} bytes for {w.numel()} weights ({8.0 * q.Bytes / w.numel():F3} bits each)");
        Assert.InRange(rel, 0.01, 0.2);   // 4 bits: a visible but small error (not a lossless copy)
    }

    [Fact]
    public void Int8_round_trip_error_is_within_half_a_step_of_each_row()
    {
        using var scope = torch.NewDisposeScope();
        var w = torch.randn([48, 80], generator: new Generator(4));
        using var q = Int8Weight.Quantize(w);
        var error = (w - q.Dequantize()).abs().amax([1], keepdim: true);
        Assert.True((error <= q.Scales / 2 + 1e-6).all().item<bool>());
        Assert.True(error.max().item<float>() > 0, "int8 of random weights cannot be exact");
    }

    [Fact]
    public void A_quantized_llama_base_takes_a_quarter_and_an_eighth_of_float32()
    {
        var config = new DecoderLmConfig { Arch = "llama", VocabSize = 64, MaxSeqLen = 16, EmbedDim = 256, NumLayers = 2, NumHeads = 4, MlpHiddenDim = 704 };
        var lora = new LoraConfig { Targets = LoraConfig.KnownTargets };
        foreach (var (kind, atLeast, atMost) in new[] { ("int8", 3.9, 4.0), ("nf4", 7.5, 8.0) })
        {
            using var model = new DecoderLm(config, lora);
            var (quantized, full) = LoraModel.QuantizeBase(model, kind);
            var left = LoraModel.Layers(model).Sum(l => l.Layer.Weight.numel());
            _output.WriteLine($"{kind}: base linear weights {full / 1e6:F2} MB fp32 → {quantized / 1e6:F3} MB ({(double)full / quantized:F2}× smaller)");
            Assert.Equal(0, left); // the float32 copies are gone
            Assert.InRange((double)full / quantized, atLeast, atMost);
        }
    }

    [Fact]
    public void A_lora_fine_tune_on_an_nf4_base_runs_and_its_loss_falls()
    {
        using var scope = torch.NewDisposeScope();
        var config = TinyConfigs.Llama();
        var lora = new LoraConfig { Targets = LoraConfig.KnownTargets, Rank = 4, Dropout = 0, QuantizeBase = "nf4" };
        using var model = new DecoderLm(config, lora);
        model.InitializeWeights(7);
        // Counting sequences (each token is the previous + 1, mod V): a rule the adapters can learn in a few steps.
        var ids = (torch.randint(0, config.VocabSize, [4, 1], generator: new Generator(8)) + torch.arange(12)).remainder(config.VocabSize);
        Tensor fullLogits;
        using (torch.no_grad())
            fullLogits = model.call(ids).detach();
        LoraModel.FreezeBase(model);
        LoraModel.QuantizeBase(model, lora.QuantizeBase);
        using (torch.no_grad())
        {
            var diff = (model.call(ids) - fullLogits).abs().max().item<float>();
            _output.WriteLine($"NF4 base: max |logits − float32 logits| = {diff:g3} before training");
            Assert.InRange(diff, 1e-6, 0.5);
        }
        using var adam = torch.optim.AdamW(LoraModel.TrainableParameters(model).Select(p => p.Param), 1e-2);
        var losses = new List<float>();
        for (var step = 0; step < 30; step++)
        {
            using var stepScope = torch.NewDisposeScope();
            adam.zero_grad();
            var logits = model.call(ids[TensorIndex.Colon, TensorIndex.Slice(0, -1)]);
            var loss = torch.nn.functional.cross_entropy(logits.reshape(-1, config.VocabSize), ids[TensorIndex.Colon, TensorIndex.Slice(1)].reshape(-1));
            loss.backward();
            adam.step();
            losses.Add(loss.item<float>());
        }
        _output.WriteLine($"loss by step: {string.Join(" ", losses.Select(l => l.ToString("F3", CultureInfo.InvariantCulture)))}");
        Assert.True(losses[^1] < 0.9 * losses[0], $"loss {losses[0]} → {losses[^1]}");
        Assert.All(LoraModel.Layers(model), l => Assert.Null(l.Layer.Weight.grad));

        // Merging folds the adapters into the dequantized base: the same outputs from one plain weight.
        using (torch.no_grad())
        {
            var before = model.call(ids).detach();
            LoraModel.MergeAll(model);
            Assert.All(LoraModel.Layers(model), l => Assert.Null(l.Layer.QuantizedBase));
            Assert.True((model.call(ids) - before).abs().max().item<float>() < 1e-4);
        }
    }
}
