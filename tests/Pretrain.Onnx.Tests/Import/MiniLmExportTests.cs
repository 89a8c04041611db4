using Pretrain.Onnx.Export;
using Pretrain.Onnx.Runtime;
using Pretrain.Onnx.Validation;

namespace Pretrain.Onnx.Tests.Import;

/// <summary>
/// Our export of the imported all-MiniLM-L6-v2 gives the same last_hidden_state as the ORIGINAL model.onnx (PyTorch's
/// exporter) in the same ONNX Runtime, on several sentences alone and as one right-padded batch; its
/// <c>embeddings</c> output is the sentence-transformers mean pooling.
/// </summary>
[Collection("torch")]
public sealed class MiniLmExportTests(MiniLmFixture fixture) : IClassFixture<MiniLmFixture>
{
    private static readonly string[] Sentences =
    [
        "A man is eating food.",
        "hello world",
        "The quick brown fox jumps over the lazy dog, again and again!",
        "Transformers pretrained on large corpora transfer well.",
    ];

    [MiniLmFact]
    public void Our_export_matches_the_original_onnx_file() => Matches_the_original(optimize: false);

    /// <summary>The --optimize graph of the real model (6 Attention, 12 SkipLayerNormalization, 6 BiasGelu) too.</summary>
    [MiniLmFact]
    public void Our_fused_export_matches_the_original_onnx_file() => Matches_the_original(optimize: true);

    private void Matches_the_original(bool optimize)
    {
        var dir = Directory.CreateTempSubdirectory("pretrain-minilm-export-").FullName;
        try
        {
            var model = fixture.Imported.Model;
            OnnxExporter.WriteEncoder(model, dir, new ExportOptions { Optimize = optimize });
            if (optimize)
            {
                var ops = FusedExportTests.OpCounts(Path.Combine(dir, "model.onnx"));
                Assert.Equal((6, 12, 6), (ops["com.microsoft/Attention"], ops["com.microsoft/SkipLayerNormalization"], ops["com.microsoft/BiasGelu"]));
            }
            using var ours = OnnxEncoderSession.Open(Path.Combine(dir, "model.onnx"), threads: 2);
            var encoded = Sentences.Select(s => fixture.Tokenizer.EncodeToIds(s).Select(i => (long)i).ToArray()).ToList();
            var worst = 0.0;
            foreach (var ids in encoded)
                worst = Math.Max(worst, MaxAbsDiff(fixture.Original.Run(ids, 1, ids.Length), ours.Run(ids, 1, ids.Length), null, 384));

            var t = encoded.Max(e => e.Length);
            var batchIds = new long[encoded.Count * t];
            var mask = new long[encoded.Count * t];
            for (var b = 0; b < encoded.Count; b++)
            {
                encoded[b].CopyTo(batchIds, b * t);
                Array.Fill(mask, 1L, b * t, encoded[b].Length);
            }
            worst = Math.Max(worst, MaxAbsDiff(fixture.Original.Run(batchIds, encoded.Count, t, mask),
                ours.Run(batchIds, encoded.Count, t, mask), mask, 384));
            Assert.True(worst <= 1e-4, $"max |Δ last_hidden_state| ours vs original = {worst:G3}");
            Console.WriteLine($"MiniLM export (optimize {optimize}): max |Δ last_hidden_state| vs the original model.onnx = {worst:G3}");

            using var pooled = OnnxEncoderSession.Open(Path.Combine(dir, "model.onnx"), "embeddings", threads: 2);
            var expected = EncoderValidator.Reference(model, null, batchIds, mask, new long[batchIds.Length], encoded.Count, t)["embeddings"];
            Assert.True(EncoderExportTests.MaxAbsDiff(expected, pooled.Run(batchIds, encoded.Count, t, mask)) <= 1e-4);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>Max |a − b| over the rows whose mask is 1 (all rows when null).</summary>
    private static double MaxAbsDiff(float[] a, float[] b, long[]? mask, int width)
    {
        Assert.Equal(a.Length, b.Length);
        double d = 0;
        for (var i = 0; i < a.Length; i++)
        {
            if (mask is null || mask[i / width] != 0)
                d = Math.Max(d, Math.Abs((double)a[i] - b[i]));
        }
        return d;
    }
}
