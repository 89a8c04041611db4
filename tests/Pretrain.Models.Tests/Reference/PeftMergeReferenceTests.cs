using Pretrain.Models.Peft;
using Pretrain.Models.Tests.Peft;
using Pretrain.Models.Text;
using Pretrain.Models.Weights;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Pretrain.Models.Tests.Reference;

/// <summary>
/// Our adapter files and merged export against an independent PyTorch merge that follows PEFT's documented semantics
/// (W + (α/r)·B·A, rank/alpha patterns, rsLoRA, fan_in_fan_out): GPT-2's block-diagonal c_attn must merge exactly.
/// </summary>
[Collection("torch")]
public sealed class PeftMergeReferenceTests
{
    private readonly ITestOutputHelper _output;

    public PeftMergeReferenceTests(ITestOutputHelper output) => _output = output;

    [ReferenceFact(ReferenceTool.PythonTorch)]
    public void Merged_weights_match_a_plain_pytorch_merge_of_the_peft_files()
    {
        ReferenceTools.Require(ReferenceTool.PythonTorch);
        using var dir = new TempDir();
        using var scope = torch.NewDisposeScope();
        var cases = new (string Name, string Arch, LoraConfig Lora)[]
        {
            ("gpt2", "gpt2", LoraModelTests.ConfigFor("gpt2")),
            ("gpt2-rslora-qv", "gpt2", new LoraConfig { Rank = 4, Alpha = 3, UseRslora = true, Targets = ["q_proj", "v_proj"], Layers = [1] }),
            ("llama", "llama", LoraModelTests.ConfigFor("llama")),
            ("bert", "bert", LoraModelTests.ConfigFor("bert")),
            ("phi3", "phi3", LoraModelTests.ConfigFor("phi3")),
            // DoRA: fused c_attn / qkv_proj / gate_up_proj with untargeted parts, rsLoRA, an encoder.
            ("gpt2-dora", "gpt2", LoraModelTests.ConfigFor("gpt2") with { Targets = ["q_proj", "v_proj", "down_proj"], UseDora = true }),
            ("llama-dora-rslora", "llama", LoraModelTests.ConfigFor("llama") with { UseDora = true, UseRslora = true }),
            ("phi3-dora", "phi3", LoraModelTests.ConfigFor("phi3") with { UseDora = true }),
            ("bert-dora", "bert", LoraModelTests.ConfigFor("bert") with { UseDora = true }),
        };
        var script = Path.Combine(AppContext.BaseDirectory, "Reference", "peft_merge_reference.py");
        foreach (var (name, arch, lora) in cases)
        {
            var caseDir = Path.Combine(dir.Path, name);
            using var model = LoraModels.Build(arch, lora);
            TestWeights.Randomize(model, seed: name.Length);
            if (lora.UseDora)
                TrainMagnitudes(model, seed: name.Length);
            var basePath = Path.Combine(dir.Path, name + "-base.safetensors");
            Safetensors.Save(basePath, LoraModelTests.ToHf(model)); // the base weights: the layouts leave lora_* out
            switch (model)
            {
                case DecoderLm d: PeftAdapterLayout.Save(caseDir, d); break;
                case EncoderLm e: PeftAdapterLayout.Save(caseDir, e); break;
            }
            var outPath = Path.Combine(dir.Path, name + "-merged.safetensors");
            var (code, output) = ReferenceTools.RunPython([script, caseDir, basePath, outPath], TimeSpan.FromSeconds(120));
            Assert.True(code == 0, $"The reference script failed ({code}): {output}");

            var ours = LoraModel.ExportMerged(model, () => LoraModelTests.ToHf(model));
            var reference = Safetensors.Load(outPath);
            Assert.NotEmpty(reference);
            foreach (var (tensor, expected) in reference)
            {
                var diff = LoraModels.MaxDiff(ours[tensor], expected);
                _output.WriteLine($"{name} {tensor}: max |ours − reference| = {diff:E2}");
                Assert.True(diff < 1e-5, $"{name} {tensor}: {diff}");
            }
        }
    }

    /// <summary>DoRA's m as after training: the start (W's row norms) times factors in [0.5, 1.5).</summary>
    internal static void TrainMagnitudes(nn.Module model, int seed)
    {
        using var g = new Generator((ulong)seed);
        using var _ = torch.no_grad();
        foreach (var (_, layer) in LoraModel.Layers(model))
        {
            layer.ResetMagnitude();
            using var factor = torch.rand(layer.Magnitude!.shape, generator: g) + 0.5;
            layer.Magnitude.mul_(factor);
        }
    }
}
