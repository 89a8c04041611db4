using Pretrain.Models.Heads;
using Pretrain.Models.Text;
using Pretrain.Models.Vision;
using Pretrain.Models.Weights;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Pretrain.Models.Tests.Reference;

/// <summary>
/// Our encoders against an independent plain-PyTorch implementation (Reference/hf_encoder_reference.py) that reads
/// the Hugging Face-named checkpoint we write: checks the forward pass (padding mask included), the HF layouts and
/// the safetensors writer at once.
/// </summary>
[Collection("torch")]
public sealed class EncoderReferenceTests
{
    private const double Tolerance = 1e-4;

    private readonly ITestOutputHelper _output;

    public EncoderReferenceTests(ITestOutputHelper output) => _output = output;

    [ReferenceFact(ReferenceTool.PythonTorch)]
    public void Bert_and_vit_outputs_match_an_independent_pytorch_forward()
    {
        ReferenceTools.Require(ReferenceTool.PythonTorch);
        using var dir = new TempDir();
        using var scope = torch.NewDisposeScope();
        var ours = new Dictionary<string, Dictionary<string, Tensor>>();
        ours["bert-post-ln"] = Bert(dir, "bert-post-ln", TinyEncoderConfigs.Bert(postNorm: true, pooler: true));
        ours["bert-pre-ln"] = Bert(dir, "bert-pre-ln", TinyEncoderConfigs.Bert(postNorm: false) with { NumHeads = 2, MlpHiddenDim = null });
        ours["vit"] = Vit(dir, "vit", TinyEncoderConfigs.Vit() with { NormEps = 1e-12 });
        ours["vit-mean-sincos"] = Vit(dir, "vit-mean-sincos", TinyEncoderConfigs.Vit(classToken: false, posEmbed: "sincos") with { QkvBias = false });

        var script = Path.Combine(AppContext.BaseDirectory, "Reference", "hf_encoder_reference.py");
        var (code, output) = ReferenceTools.RunPython([script, .. ours.Keys.Select(c => Path.Combine(dir.Path, c))], TimeSpan.FromSeconds(120));
        Assert.True(code == 0, $"The reference script failed ({code}): {output}");

        var failures = new List<string>();
        foreach (var (name, outputs) in ours)
        {
            foreach (var (kind, value) in outputs)
            {
                var file = Path.Combine(dir.Path, name, $"reference_{kind}.safetensors");
                if (!File.Exists(file))
                {
                    failures.Add($"{name}: the reference wrote no {kind}");
                    continue;
                }
                var reference = Safetensors.Load(file)[kind];
                Assert.Equal(value.shape, reference.shape);
                var maxDiff = (value - reference).abs().max().item<float>();
                var scale = reference.abs().max().item<float>();
                _output.WriteLine($"{name} {kind}: max |ours − reference| = {maxDiff:g3}, values up to {scale:g3}");
                if (scale < 0.5)
                    failures.Add($"{name} {kind}: values too small ({scale}) for the comparison to mean anything");
                if (!(maxDiff <= Tolerance))
                    failures.Add($"{name} {kind}: max |ours − reference| = {maxDiff} > {Tolerance} (values up to {scale})");
            }
        }
        Assert.True(failures.Count == 0, string.Join(Environment.NewLine, failures));
    }

    private static Dictionary<string, Tensor> Bert(TempDir dir, string name, EncoderLmConfig config)
    {
        var caseDir = Directory.CreateDirectory(Path.Combine(dir.Path, name)).FullName;
        using var model = new EncoderLm(config);
        using var head = new MlmHead(model);
        TestWeights.Randomize(model, name.Length);
        TestWeights.Randomize(head, name.Length + 1);
        model.eval();
        var ids = torch.randint(0, config.VocabSize, [3, 12], ScalarType.Int64, generator: new Generator(11));
        var mask = torch.ones(3, 12, ScalarType.Int64);
        mask[0, 7..] = torch.tensor(0L);  // padded after 7 tokens
        mask[2, 3..] = torch.tensor(0L);  // padded after 3 tokens
        var types = torch.zeros(3, 12, ScalarType.Int64);
        types[.., 5..] = torch.tensor(1L);
        Safetensors.Save(Path.Combine(caseDir, "model.safetensors"), HfEncoderLayout.ToHf(model, head));
        File.WriteAllText(Path.Combine(caseDir, "config.json"), HfEncoderLayout.ConfigJson(config).ToJsonString());
        Safetensors.Save(Path.Combine(caseDir, "inputs.safetensors"),
            new Dictionary<string, Tensor> { ["input_ids"] = ids, ["attention_mask"] = mask, ["token_type_ids"] = types });
        using var _ = torch.no_grad();
        var hidden = model.call(ids, mask, types);
        var outputs = new Dictionary<string, Tensor> { ["hidden"] = hidden.detach(), ["logits"] = head.call(hidden, null).detach() };
        if (config.Pooler)
            outputs["pooled"] = model.Pool(hidden).detach();
        return outputs;
    }

    private static Dictionary<string, Tensor> Vit(TempDir dir, string name, VitConfig config)
    {
        var caseDir = Directory.CreateDirectory(Path.Combine(dir.Path, name)).FullName;
        using var model = new VisionTransformer(config);
        using var classifier = config.ClassToken ? new ClassifierHead(config.EmbedDim, 5) : null;
        TestWeights.Randomize(model, name.Length);
        if (classifier is not null)
            TestWeights.Randomize(classifier, name.Length + 1);
        model.eval();
        var pixels = torch.randn([2, config.NumChannels, config.ImageSize, config.ImageSize], generator: new Generator(12));
        Safetensors.Save(Path.Combine(caseDir, "model.safetensors"), HfVitLayout.ToHf(model, classifier));
        File.WriteAllText(Path.Combine(caseDir, "config.json"), HfVitLayout.ConfigJson(config).ToJsonString());
        Safetensors.Save(Path.Combine(caseDir, "inputs.safetensors"), new Dictionary<string, Tensor> { ["pixel_values"] = pixels });
        using var _ = torch.no_grad();
        var hidden = model.call(pixels);
        var outputs = new Dictionary<string, Tensor> { ["hidden"] = hidden.detach() };
        if (classifier is not null)
            outputs["logits"] = classifier.call(model.Pool(hidden)).detach();
        return outputs;
    }
}
