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
        };
        var script = Path.Combine(AppContext.BaseDirectory, "Reference", "peft_merge_reference.py");
        foreach (var (name, arch, lora) in cases)
        {
            var caseDir = Path.Combine(dir.Path, name);
            using var model = LoraModels.Build(arch, lora);
            TestWeights.Randomize(model, seed: name.Length);
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
}
