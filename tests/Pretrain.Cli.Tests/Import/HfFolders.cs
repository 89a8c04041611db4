using System.Text.Json;
using System.Text.Json.Nodes;
using Pretrain.Models.Heads;
using Pretrain.Models.Text;
using Pretrain.Models.Vision;
using Pretrain.Models.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Cli.Tests.Import;

/// <summary>Tiny random models written as Hugging Face model folders with our own ToHf + config.json (base or task prefix, one file or two shards).</summary>
internal static class HfFolders
{
    /// <summary>Writes a folder for <paramref name="arch"/> and returns the tensors as the task layout names them (what an import must write back).</summary>
    public static Dictionary<string, Tensor> Write(string dir, string arch, bool taskPrefix = true, int shards = 1, bool tied = true)
    {
        Directory.CreateDirectory(dir);
        Dictionary<string, Tensor> task;
        JsonObject config;
        string prefix;
        switch (arch)
        {
            case "gpt2" or "llama":
                var dc = new DecoderLmConfig { Arch = arch, VocabSize = 50, MaxSeqLen = 16, EmbedDim = 16, NumLayers = 2, NumHeads = 2, NumKvHeads = arch == "llama" ? 1 : null, TieEmbeddings = tied };
                var decoder = new DecoderLm(dc);
                decoder.InitializeWeights(3);
                task = HfDecoderLayout.ToHf(decoder);
                config = HfDecoderLayout.ConfigJson(dc);
                prefix = arch == "gpt2" ? "transformer." : "model.";
                break;
            case "bert":
                var ec = new EncoderLmConfig { VocabSize = 41, MaxSeqLen = 16, EmbedDim = 16, NumLayers = 2, NumHeads = 4, MlpHiddenDim = 24, Pooler = true };
                var encoder = new EncoderLm(ec);
                encoder.InitializeWeights(3);
                var mlm = new MlmHead(encoder);
                mlm.InitializeWeights(4);
                task = HfEncoderLayout.ToHf(encoder, mlm);
                config = HfEncoderLayout.ConfigJson(ec);
                prefix = "bert.";
                File.WriteAllText(Path.Combine(dir, "vocab.txt"), string.Join("\n", Enumerable.Range(0, 41).Select(i => i switch { 0 => "[PAD]", 1 => "[UNK]", 2 => "[CLS]", 3 => "[SEP]", 4 => "[MASK]", _ => $"w{i}" })) + "\n");
                break;
            default:
                var vc = new VitConfig { ImageSize = 16, PatchSize = 4, EmbedDim = 16, NumLayers = 2, NumHeads = 2, MlpHiddenDim = 24 };
                var vit = new VisionTransformer(vc);
                vit.InitializeWeights(3);
                var classifier = new ClassifierHead(16, 5);
                task = HfVitLayout.ToHf(vit, classifier);
                config = HfVitLayout.ConfigJson(vc, null, 5);
                prefix = "vit.";
                break;
        }
        config.Remove("pretrain"); // as a folder written by Hugging Face itself would be
        var saved = task.ToDictionary(kv => taskPrefix || !kv.Key.StartsWith(prefix, StringComparison.Ordinal) ? kv.Key : kv.Key[prefix.Length..], kv => kv.Value, StringComparer.Ordinal);
        File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJsonString());
        if (shards == 1)
        {
            Safetensors.Save(Path.Combine(dir, "model.safetensors"), saved);
        }
        else
        {
            var names = saved.Keys.Order(StringComparer.Ordinal).ToList();
            var map = new JsonObject();
            for (var s = 0; s < shards; s++)
            {
                var file = $"model-{s + 1:D5}-of-{shards:D5}.safetensors";
                var part = names.Where((_, i) => i % shards == s).ToDictionary(n => n, n => saved[n], StringComparer.Ordinal);
                Safetensors.Save(Path.Combine(dir, file), part);
                foreach (var n in part.Keys)
                    map[n] = file;
            }
            File.WriteAllText(Path.Combine(dir, "model.safetensors.index.json"), new JsonObject { ["metadata"] = new JsonObject { ["total_size"] = 0 }, ["weight_map"] = map }.ToJsonString());
        }
        return task;
    }

    /// <summary>Whether a checkpoint's model.safetensors holds exactly these tensors with these values.</summary>
    public static void AssertSameTensors(Dictionary<string, Tensor> expected, string checkpoint)
    {
        var actual = Safetensors.Load(Path.Combine(checkpoint, "model.safetensors"));
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), actual.Keys.Order(StringComparer.Ordinal));
        foreach (var (name, tensor) in expected)
            Assert.True(tensor.to_type(actual[name].dtype).equal(actual[name]).all().item<bool>(), name);
    }

    public static JsonObject Config(string dir) => (JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "config.json"))) as JsonObject)!;

    public static void Rewrite(string path, Func<JsonObject, JsonObject> change) =>
        File.WriteAllText(path, change((JsonNode.Parse(File.ReadAllText(path)) as JsonObject)!).ToJsonString(new JsonSerializerOptions()));
}
