using System.Text.Json;
using System.Text.Json.Nodes;
using Pretrain.Models.Heads;
using Pretrain.Models.Text;
using Pretrain.Models.Vision;
using Pretrain.Models.Weights;
using TorchSharp;

namespace Pretrain.Onnx.Tests;

/// <summary>A randomly initialised tiny encoder or ViT (with an optional classifier) written as a checkpoint step folder.</summary>
internal sealed class TinyModelCheckpoint : IDisposable
{
    private TinyModelCheckpoint(torch.nn.Module model, ClassifierHead? classifier, Func<Dictionary<string, torch.Tensor>> weights, JsonObject config)
    {
        Model = model;
        Classifier = classifier;
        Root = Directory.CreateTempSubdirectory("pretrain-onnx-").FullName;
        StepDir = Path.Combine(Root, "checkpoints", "step-00000001");
        Directory.CreateDirectory(StepDir);
        using (torch.NewDisposeScope())
            Safetensors.Save(Path.Combine(StepDir, "model.safetensors"), weights());
        File.WriteAllText(Path.Combine(StepDir, "config.json"), config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    public torch.nn.Module Model { get; }

    public ClassifierHead? Classifier { get; }

    public string Root { get; }

    public string StepDir { get; }

    /// <summary>A path under the fixture's temporary folder.</summary>
    public string this[string relative] => Path.Combine(Root, relative);

    /// <summary>2 layers, width 32, 4 heads, vocab 97, 3 segment types, 40 positions.</summary>
    public static TinyModelCheckpoint Encoder(bool postNorm, bool pooler, int? classes, long seed = 5)
    {
        var config = new EncoderLmConfig
        {
            VocabSize = 97, MaxSeqLen = 40, TypeVocabSize = 3, EmbedDim = 32, NumLayers = 2, NumHeads = 4,
            MlpHiddenDim = 48, NormEps = 1e-6, PostNorm = postNorm, Pooler = pooler,
        };
        var model = new EncoderLm(config);
        model.InitializeWeights(seed);
        var classifier = classes is int n ? new ClassifierHead(config.EmbedDim, n) : null;
        model.eval();
        classifier?.eval();
        return new TinyModelCheckpoint(model, classifier, () => HfEncoderLayout.ToHf(model, null, classifier), HfEncoderLayout.ConfigJson(config, classes));
    }

    /// <summary>16 px images in 4 px patches (16 patches), width 32, 2 layers, 4 heads.</summary>
    public static TinyModelCheckpoint Vit(bool classToken, string pool, string positions, int? classes, long seed = 5)
    {
        var config = new VitConfig
        {
            ImageSize = 16, PatchSize = 4, NumChannels = 3, EmbedDim = 32, NumLayers = 2, NumHeads = 4, MlpHiddenDim = 48,
            NormEps = 1e-6, ClassToken = classToken, GlobalPool = pool, PosEmbed = positions,
        };
        var model = new VisionTransformer(config);
        model.InitializeWeights(seed);
        var classifier = classes is int n ? new ClassifierHead(config.EmbedDim, n) : null;
        model.eval();
        classifier?.eval();
        return new TinyModelCheckpoint(model, classifier, () => HfVitLayout.ToHf(model, classifier), HfVitLayout.ConfigJson(config, null, classes));
    }

    public void Dispose()
    {
        Model.Dispose();
        Classifier?.Dispose();
        try { Directory.Delete(Root, recursive: true); }
        catch (IOException) { }
    }
}
