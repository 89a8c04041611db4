using Pretrain.Models.Weights;
using Pretrain.Onnx.Export;
using Pretrain.Onnx.Runtime;
using Pretrain.Tests;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Pretrain.Cli.Tests.Import;

/// <summary>
/// `pretrain import` of the llama family's Hugging Face folders (Llama 3 rope scaling, Qwen2, Qwen3, Mistral's sliding
/// window, Phi-3's fused tensors), each written by Reference/llama_family_reference.py with its own random weights
/// (bf16 or fp32, one file or shards) together with logits from an independent float64 PyTorch forward. Checks:
/// the import's logits and the ONNX export's (ONNX Runtime, full sequence and through the KV cache) agree with the
/// reference to 1e-4, and the checkpoint's tensors are the folder's, byte for byte, in the folder's dtype.
/// About 3 s per case (python ~1 s, import, export with ORT validation).
/// </summary>
[Collection("torch")]
public sealed class LlamaFamilyImportTests
{
    private const double Tolerance = 1e-4;
    private readonly ITestOutputHelper _output;

    public LlamaFamilyImportTests(ITestOutputHelper output) => _output = output;

    [ReferenceTheory(ReferenceTool.PythonTorch)]
    [InlineData("llama3", "llama")]
    [InlineData("qwen2", "qwen2")]
    [InlineData("qwen3", "qwen3")]
    [InlineData("mistral", "mistral")]
    [InlineData("phi3", "phi3")]
    public void An_hf_folder_imports_exports_and_agrees_with_an_independent_pytorch_forward(string name, string modelType)
    {
        ReferenceTools.Require(ReferenceTool.PythonTorch);
        using var dir = new TempDir();
        var script = Path.Combine(AppContext.BaseDirectory, "Reference", "llama_family_reference.py");
        var (code, output) = ReferenceTools.RunPython([script, name, dir["hf"]]);
        Assert.True(code == 0, $"The reference script failed ({code}): {output}");

        var import = CliRunner.Run("import", dir["hf"], "--out", dir["ckpt"]);
        Assert.True(import.Code == 0, import.Err + import.Out);
        Assert.Equal(modelType, HfFolders.Config(dir["ckpt"])["model_type"]!.GetValue<string>());
        AssertSameBytes(SourceTensors(dir["hf"]), Safetensors.Load(dir["ckpt/model.safetensors"]));

        using var scope = torch.NewDisposeScope();
        var ids = Safetensors.Load(dir["hf/inputs.safetensors"])["input_ids"];
        var (batch, t) = ((int)ids.shape[0], (int)ids.shape[1]);
        var reference = Safetensors.Load(dir["hf/reference_logits.safetensors"])["logits"].data<float>().ToArray();
        var vocab = reference.Length / (batch * t);
        var idArray = ids.data<long>().ToArray();
        using (var model = DecoderCheckpoint.Load(dir["ckpt"]))
            AssertClose("TorchSharp", reference, DecoderCheckpoint.Logits(model, idArray, batch, t));

        var export = CliRunner.Run("export", dir["ckpt"], "--out", dir["onnx"], "--with-past");
        Assert.True(export.Code == 0, export.Err + export.Out);
        Assert.Contains("validated with ONNX Runtime", export.Out, StringComparison.Ordinal);
        using var session = OnnxDecoderSession.Open(dir["onnx/model.onnx"]);
        AssertClose("ONNX Runtime", reference, session.Logits(idArray, batch, t));
        // A prompt of 5, then the rest through the cache: with Mistral's window of 4 the cached keys fall out of view.
        const int prompt = 5;
        using var cache = session.NewCache(batch);
        session.Step(Columns(idArray, batch, t, 0, prompt), batch, prompt, cache);
        var continued = session.Step(Columns(idArray, batch, t, prompt, t - prompt), batch, t - prompt, cache);
        AssertClose("ONNX Runtime with the KV cache", Positions(reference, batch, t, prompt, vocab), continued);
    }

    /// <summary>Every tensor of the folder (one file or every shard), by name.</summary>
    private static Dictionary<string, Tensor> SourceTensors(string dir)
    {
        var all = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var file in Directory.GetFiles(dir, "model*.safetensors"))
            foreach (var (k, v) in Safetensors.Load(file))
                all.Add(k, v);
        return all;
    }

    private static void AssertSameBytes(Dictionary<string, Tensor> expected, Dictionary<string, Tensor> actual)
    {
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), actual.Keys.Order(StringComparer.Ordinal));
        foreach (var (name, tensor) in expected)
        {
            Assert.True(tensor.dtype == actual[name].dtype, $"{name}: {actual[name].dtype}, the source has {tensor.dtype}");
            Assert.Equal(tensor.shape, actual[name].shape);
            Assert.True(tensor.bytes.SequenceEqual(actual[name].bytes), $"{name}: bytes differ from the source's");
        }
    }

    private void AssertClose(string what, float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        double diff = 0, scale = 0;
        for (var i = 0; i < expected.Length; i++)
        {
            diff = Math.Max(diff, double.IsNaN(actual[i]) ? double.PositiveInfinity : Math.Abs((double)expected[i] - actual[i]));
            scale = Math.Max(scale, Math.Abs(expected[i]));
        }
        _output.WriteLine($"{what}: max |ours − reference| = {diff:g3}, logits up to {scale:g3}");
        Assert.True(scale > 1, $"{what}: reference logits too small ({scale}) for the comparison to mean anything");
        Assert.True(diff <= Tolerance, $"{what}: max |ours − reference| = {diff:g3} > {Tolerance} (logits up to {scale:g3})");
    }

    /// <summary>Columns [from, from + count) of (B, T) row-major ids.</summary>
    private static long[] Columns(long[] ids, int batch, int t, int from, int count) =>
        [.. Enumerable.Range(0, batch).SelectMany(b => ids.Skip(b * t + from).Take(count))];

    /// <summary>Positions [from, T) of (B, T, V) row-major logits.</summary>
    private static float[] Positions(float[] logits, int batch, int t, int from, int vocab) =>
        [.. Enumerable.Range(0, batch).SelectMany(b => logits.Skip((b * t + from) * vocab).Take((t - from) * vocab))];
}
