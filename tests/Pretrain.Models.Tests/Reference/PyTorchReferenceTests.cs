using Pretrain.Models.Text;
using Pretrain.Models.Weights;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Pretrain.Models.Tests.Reference;

/// <summary>
/// Our logits against an independent plain-PyTorch implementation (Reference/hf_decoder_reference.py) that reads
/// the checkpoint we write: checks the forward pass, the Hugging Face layout and the safetensors writer/reader at once.
/// </summary>
[Collection("torch")]
public sealed class PyTorchReferenceTests
{
    private const double Tolerance = 1e-4;

    private readonly ITestOutputHelper _output;

    public PyTorchReferenceTests(ITestOutputHelper output) => _output = output;

    [ReferenceFact(ReferenceTool.PythonTorch)]
    public void Gpt2_and_llama_logits_match_an_independent_pytorch_forward()
    {
        ReferenceTools.Require(ReferenceTool.PythonTorch);
        using var dir = new TempDir();
        using var scope = torch.NewDisposeScope();
        var cases = new (string Name, DecoderLmConfig Config)[]
        {
            ("gpt2", TinyConfigs.Gpt2()),
            ("gpt2-untied", TinyConfigs.Gpt2(tie: false) with { NumHeads = 2, MlpHiddenDim = 48 }),
            ("llama-gqa", TinyConfigs.Llama()),
            ("llama-tied-bias", TinyConfigs.Llama(tie: true) with { NumKvHeads = null, Bias = true, RopeTheta = 10000 }),
        };
        var ours = new Dictionary<string, Tensor>();
        foreach (var (name, config) in cases)
        {
            var caseDir = Path.Combine(dir.Path, name);
            Directory.CreateDirectory(caseDir);
            using var model = new DecoderLm(config);
            Randomize(model, seed: name.Length);
            model.eval();
            var ids = torch.randint(0, config.VocabSize, [2, config.MaxSeqLen], ScalarType.Int64, generator: new Generator(11));
            Safetensors.Save(Path.Combine(caseDir, "model.safetensors"), HfDecoderLayout.ToHf(model));
            File.WriteAllText(Path.Combine(caseDir, "config.json"), HfDecoderLayout.ConfigJson(config).ToJsonString());
            Safetensors.Save(Path.Combine(caseDir, "inputs.safetensors"), new Dictionary<string, Tensor> { ["input_ids"] = ids });
            using (torch.no_grad())
                ours[name] = model.call(ids).detach();
        }

        var script = Path.Combine(AppContext.BaseDirectory, "Reference", "hf_decoder_reference.py");
        var (code, output) = ReferenceTools.RunPython([script, .. cases.Select(c => Path.Combine(dir.Path, c.Name))], TimeSpan.FromSeconds(120));
        Assert.True(code == 0, $"The reference script failed ({code}): {output}");

        var failures = new List<string>();
        foreach (var (name, _) in cases)
        {
            var reference = Safetensors.Load(Path.Combine(dir.Path, name, "reference_logits.safetensors"))["logits"];
            Assert.Equal(ours[name].shape, reference.shape);
            var maxDiff = (ours[name] - reference).abs().max().item<float>();
            var scale = reference.abs().max().item<float>();
            _output.WriteLine($"{name}: max |ours − reference| = {maxDiff:g3}, logits up to {scale:g3}");
            if (scale < 0.5)
                failures.Add($"{name}: logits too small ({scale}) for the comparison to mean anything");
            if (!(maxDiff <= Tolerance))
                failures.Add($"{name}: max |ours − reference| = {maxDiff} > {Tolerance} (logits up to {scale})");
        }
        Assert.True(failures.Count == 0, string.Join(Environment.NewLine, failures));
    }

    /// <summary>Weights large enough that attention is far from uniform and every norm scale and bias matters.</summary>
    private static void Randomize(DecoderLm model, int seed)
    {
        using var generator = new Generator((ulong)seed);
        using var _ = torch.no_grad();
        foreach (var (name, p) in model.named_parameters())
        {
            var draw = torch.randn(p.shape, generator: generator);
            if (name.EndsWith(".bias", StringComparison.Ordinal))
                p.copy_(draw * 0.1);
            else if (p.dim() == 1)
                p.copy_(1 + draw * 0.2); // norm scales around 1
            else
                p.copy_(draw * 0.25);
        }
    }
}
