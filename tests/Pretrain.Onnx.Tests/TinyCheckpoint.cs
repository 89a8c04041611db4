using System.Text.Json;
using Pretrain.Data.Text;
using Pretrain.Models.Text;
using Pretrain.Models.Weights;
using TorchSharp;

namespace Pretrain.Onnx.Tests;

/// <summary>A randomly initialised tiny decoder written as a checkpoint step folder (config.json, model.safetensors, tokenizer/).</summary>
internal sealed class TinyCheckpoint : IDisposable
{
    public TinyCheckpoint(string arch, bool tied = true, long seed = 7)
    {
        Config = Tiny(arch, tied);
        Root = Directory.CreateTempSubdirectory("pretrain-onnx-").FullName;
        StepDir = Path.Combine(Root, "checkpoints", "step-00000001");
        Directory.CreateDirectory(StepDir);
        Model = new DecoderLm(Config);
        Model.InitializeWeights(seed);
        Model.eval();
        using (torch.NewDisposeScope())
            Safetensors.Save(Path.Combine(StepDir, "model.safetensors"), HfDecoderLayout.ToHf(Model));
        var tokenizer = TokenizerFactory.Create("byte", null, "<|endoftext|>");
        var json = HfDecoderLayout.ConfigJson(Config, tokenizer.EosId, tokenizer.EosId);
        File.WriteAllText(Path.Combine(StepDir, "config.json"), json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        tokenizer.Save(Path.Combine(StepDir, "tokenizer"));
    }

    public DecoderLmConfig Config { get; }

    public DecoderLm Model { get; }

    public string Root { get; }

    public string StepDir { get; }

    /// <summary>A path under the fixture's temporary folder.</summary>
    public string this[string relative] => Path.Combine(Root, relative);

    /// <summary>2 layers, width 32, 4 heads (llama: 2 kv heads), vocab 260 (the byte tokenizer's 257 fit).</summary>
    public static DecoderLmConfig Tiny(string arch, bool tied = true) => new()
    {
        Arch = arch,
        VocabSize = 260,
        MaxSeqLen = 32,
        EmbedDim = 32,
        NumLayers = 2,
        NumHeads = 4,
        NumKvHeads = arch == "llama" ? 2 : null,
        TieEmbeddings = tied,
    };

    public void Dispose()
    {
        Model.Dispose();
        try { Directory.Delete(Root, recursive: true); }
        catch (IOException) { }
    }
}
