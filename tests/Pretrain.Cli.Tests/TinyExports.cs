using System.Text.Json;
using Pretrain.Models.Heads;
using Pretrain.Models.Text;
using Pretrain.Models.Weights;
using Pretrain.Onnx.Export;
using TorchSharp;

namespace Pretrain.Cli.Tests;

/// <summary>Tiny randomly initialised checkpoints (a gpt2 decoder, a BERT classifier) written as step folders, and their exports.</summary>
internal static class TinyExports
{
    /// <summary>A 2-layer gpt2 decoder (width 32, vocab 260, 32 positions) as a step folder.</summary>
    public static string Decoder(string stepDir, long seed = 7, string arch = "gpt2")
    {
        Directory.CreateDirectory(stepDir);
        var config = new DecoderLmConfig
        {
            Arch = arch, VocabSize = 260, MaxSeqLen = 32, EmbedDim = 32, NumLayers = 2, NumHeads = 4,
            NumKvHeads = arch == "llama" ? 2 : null,
        };
        using var model = new DecoderLm(config);
        model.InitializeWeights(seed);
        using (torch.NewDisposeScope())
            Safetensors.Save(Path.Combine(stepDir, "model.safetensors"), HfDecoderLayout.ToHf(model));
        File.WriteAllText(Path.Combine(stepDir, "config.json"), HfDecoderLayout.ConfigJson(config).ToJsonString(new JsonSerializerOptions()));
        Pretrain.Data.Text.TokenizerFactory.Create("byte", null, "<|endoftext|>").Save(Path.Combine(stepDir, "tokenizer"));
        return stepDir;
    }

    /// <summary>A 2-layer post-LN BERT (width 32, vocab 97, 40 positions) with a <paramref name="classes"/>-way classifier.</summary>
    public static string Classifier(string stepDir, int classes = 3, long seed = 5)
    {
        Directory.CreateDirectory(stepDir);
        var config = new EncoderLmConfig
        {
            VocabSize = 97, MaxSeqLen = 40, TypeVocabSize = 2, EmbedDim = 32, NumLayers = 2, NumHeads = 4, MlpHiddenDim = 48, Pooler = true,
        };
        using var model = new EncoderLm(config);
        model.InitializeWeights(seed);
        torch.manual_seed(seed);
        using var head = new ClassifierHead(config.EmbedDim, classes);
        using (torch.NewDisposeScope())
            Safetensors.Save(Path.Combine(stepDir, "model.safetensors"), HfEncoderLayout.ToHf(model, null, head));
        File.WriteAllText(Path.Combine(stepDir, "config.json"), HfEncoderLayout.ConfigJson(config, classes).ToJsonString(new JsonSerializerOptions()));
        return stepDir;
    }

    /// <summary>Exports a step folder (validated) and returns the export folder.</summary>
    public static string Export(string stepDir, string outDir, ExportOptions? options = null)
    {
        OnnxExporter.Export(stepDir, outDir, options ?? new ExportOptions());
        return outDir;
    }
}
