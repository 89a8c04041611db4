using Pretrain.Models.Text;
using Pretrain.Onnx.Import;
using TorchSharp;

namespace Pretrain.Onnx.Tests.Import;

/// <summary>
/// all-MiniLM-L6-v2's ONNX file, imported into our <see cref="EncoderLm"/>: the inferred configuration, hidden states
/// equal to ONNX Runtime running the original file, and the published sentence-similarity value.
/// </summary>
[Collection("torch")]
public sealed class MiniLmImportTests(MiniLmFixture fixture) : IClassFixture<MiniLmFixture>
{
    private static readonly string[] Sentences =
    [
        "A man is eating food.",
        "A man is eating a piece of bread.",
        "hello world",
        "The quick brown fox jumps over the lazy dog, again and again!",
        "Transformers pretrained on large corpora transfer well.",
    ];

    [MiniLmFact]
    public void The_configuration_is_inferred_from_the_graph()
    {
        var c = fixture.Imported.Config;
        Assert.Equal((30522, 512, 2, 384, 6, 12, 1536), (c.VocabSize, c.MaxSeqLen, c.TypeVocabSize, c.EmbedDim, c.NumLayers, c.NumHeads, c.MlpDim));
        Assert.Equal(1e-12, c.NormEps);
        Assert.True(c.PostNorm && c.Pooler);
        Assert.Contains(fixture.Imported.Inferred, s => s.StartsWith("heads 12 (from the head-splitting Reshape", StringComparison.Ordinal));
        Assert.Contains("activation gelu (erf)", fixture.Imported.Inferred);
        Assert.Equal("last_hidden_state", fixture.Imported.OutputName);
        Assert.Equal(22_713_216, fixture.Imported.Model.ParameterCount());
    }

    [MiniLmFact]
    public void Hello_world_tokenizes_to_the_published_ids()
    {
        Assert.Equal([101, 7592, 2088, 102], fixture.Tokenizer.EncodeToIds("hello world"));
    }

    [MiniLmFact]
    public void Hidden_states_match_onnx_runtime_on_the_original_file()
    {
        // Each sentence alone, then all of them in one right-padded batch (real tokens compared).
        var worst = 0.0;
        foreach (var s in Sentences)
        {
            var ids = fixture.Tokenizer.EncodeToIds(s).Select(i => (long)i).ToArray();
            worst = Math.Max(worst, EncoderOutputs.MaxAbsDiff(fixture.Imported.Model, fixture.Original, ids, 1, ids.Length));
        }
        var (batchIds, mask, t) = Batch(Sentences);
        worst = Math.Max(worst, EncoderOutputs.MaxAbsDiff(fixture.Imported.Model, fixture.Original, batchIds, Sentences.Length, t, mask));
        Assert.True(worst <= 1e-4, $"max |Δ last_hidden_state| = {worst:G3}");
        Console.WriteLine($"MiniLM import: max |Δ last_hidden_state| vs ONNX Runtime = {worst:G3}");
    }

    [MiniLmFact]
    public void Mean_pooled_cosine_of_the_published_pair_is_0_755()
    {
        var (ids, mask, t) = Batch(Sentences[..2]);
        using var scope = torch.NewDisposeScope();
        var hidden = torch.tensor(EncoderOutputs.Run(fixture.Imported.Model, ids, 2, t, mask), [2, t, 384]);
        var pooled = EncoderLm.MeanPool(hidden, torch.tensor(mask, [2, t]));
        var unit = torch.nn.functional.normalize(pooled, p: 2, dim: 1);
        var cosine = (unit[0] * unit[1]).sum().item<float>();
        Assert.InRange(cosine, 0.754, 0.756);
        Console.WriteLine($"MiniLM import: cos = {cosine:F4}");
    }

    private (long[] Ids, long[] Mask, int T) Batch(string[] sentences)
    {
        var encoded = sentences.Select(s => fixture.Tokenizer.EncodeToIds(s)).ToList();
        var t = encoded.Max(e => e.Count);
        var ids = new long[sentences.Length * t];
        var mask = new long[sentences.Length * t];
        for (var b = 0; b < encoded.Count; b++)
        {
            for (var i = 0; i < encoded[b].Count; i++)
            {
                ids[b * t + i] = encoded[b][i];
                mask[b * t + i] = 1;
            }
        }
        return (ids, mask, t);
    }
}
