using Pretrain.Models.Peft;
using Pretrain.Models.Tests.Peft;
using Pretrain.Models.Weights;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Pretrain.Models.Tests.Reference;

/// <summary>
/// Our DoRA linear layer against an independent PyTorch one written from the paper (eq. 5, the norm detached as §4.3
/// says), in float64: the output and the gradients w.r.t. A, B and m on the same tensors, with and without rsLoRA and
/// with an NF4-quantized base (the reference is given the dequantized W).
/// </summary>
[Collection("torch")]
public sealed class DoraReferenceTests
{
    private readonly ITestOutputHelper _output;

    public DoraReferenceTests(ITestOutputHelper output) => _output = output;

    [ReferenceFact(ReferenceTool.PythonTorch)]
    public void Dora_forward_and_gradients_match_pytorch()
    {
        ReferenceTools.Require(ReferenceTool.PythonTorch);
        using var dir = new TempDir();
        var script = Path.Combine(AppContext.BaseDirectory, "Reference", "dora_reference.py");
        var cases = new (string Name, bool Bias, bool Rslora, string Quantize, int In, int Out)[]
        {
            ("plain", true, false, "none", 10, 6),
            ("rslora", false, true, "none", 12, 5),
            ("nf4", true, false, "nf4", 64, 8),
        };
        foreach (var (name, hasBias, rslora, quantize, inDim, outDim) in cases)
        {
            using var scope = torch.NewDisposeScope();
            var config = new LoraConfig { Rank = 4, Alpha = 6, Dropout = 0, UseDora = true, UseRslora = rslora, Targets = ["q_proj"] };
            using var layer = new LoraLinear(inDim, outDim, hasBias, config);
            using var g = new Generator((ulong)name.Length);
            var x = torch.randn([3, 2, inDim], generator: g);
            var gy = torch.randn([3, 2, outDim], generator: g);
            using (torch.no_grad())
            {
                layer.LoraB.copy_(torch.randn(layer.LoraB.shape, generator: g) * 0.3);
                if (quantize != "none")
                    layer.QuantizeBase(quantize);
                layer.ResetMagnitude();                                             // m = ‖W + s·B·A‖, then "trained":
                layer.Magnitude!.mul_(torch.rand(outDim, generator: g) + 0.5);
            }
            layer.Weight.requires_grad = false; // a frozen base, as LoRA trains it
            var w = quantize == "none" ? layer.Weight.detach().clone() : layer.QuantizedBase!.Dequantize();
            var inputs = new Dictionary<string, Tensor>
            {
                ["x"] = x.reshape(-1, inDim), ["w"] = w, ["a"] = layer.LoraA.detach(), ["b_lora"] = layer.LoraB.detach(),
                ["m"] = layer.Magnitude!.detach(), ["gy"] = gy.reshape(-1, outDim), ["scale"] = torch.tensor(new[] { (float)layer.Scale }),
            };
            if (hasBias)
                inputs["bias"] = layer.Bias!.detach();
            var inPath = Path.Combine(dir.Path, name + "-in.safetensors");
            var outPath = Path.Combine(dir.Path, name + "-out.safetensors");
            Safetensors.Save(inPath, inputs);
            var (code, output) = ReferenceTools.RunPython([script, inPath, outPath], TimeSpan.FromSeconds(120));
            Assert.True(code == 0, $"The reference script failed ({code}): {output}");
            var reference = Safetensors.Load(outPath);

            var y = layer.call(x);
            (y * gy).sum().backward();
            var ours = new Dictionary<string, Tensor>
            {
                ["y"] = y.detach().reshape(-1, outDim), ["grad_a"] = layer.LoraA.grad!, ["grad_b"] = layer.LoraB.grad!, ["grad_m"] = layer.Magnitude.grad!,
            };
            foreach (var (key, want) in reference)
            {
                var diff = LoraModels.MaxDiff(ours[key], want);
                _output.WriteLine($"{name} {key}: max |ours − reference| = {diff:E2}");
                Assert.True(diff < 1e-5, $"{name} {key}: {diff}");
            }
            Assert.Null(layer.Weight.grad); // the frozen base gets no gradient (QLoRA: it holds no elements)
        }
    }
}
