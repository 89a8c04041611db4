using Pretrain.Models.Text;
using Pretrain.Models.Vision;
using Pretrain.Onnx.Export;
using Pretrain.Onnx.Proto;
using Pretrain.Onnx.Runtime;

namespace Pretrain.Onnx.Validation;

/// <summary>
/// <c>--optimize</c>'s check: the fused export and the plain one run in ONNX Runtime on the same inputs, every output
/// compared by the export tolerance rule. Encoders: (1, 5), (2, 9) with the second row right-padded by 4 (compared on
/// real tokens), (3, 16). ViT: batches of 1, 2, 3 images. Decoders: (1, 1), (2, 7), (3, 16) with the last row's final
/// 3 tokens masked; with the cache, a 5-token prompt of 2 rows then 4 single-token steps, each step compared.
/// </summary>
internal static class FusedCheck
{
    public static IReadOnlyList<ValidationShape> Run(string plainPath, string fusedPath, ExportModel model, double tolerance, int seed = 4321)
    {
        var random = new Random(seed);
        return model.Decoder is not null ? Decoder(plainPath, fusedPath, model.Decoder.Config, tolerance, random)
            : model.Encoder is not null ? Encoder(plainPath, fusedPath, model.Encoder.Config, tolerance, random)
            : Vit(plainPath, fusedPath, model.Vit!.Config, tolerance, random);
    }

    /// <summary>Counts of the com.microsoft operators in an ONNX file, by op type.</summary>
    public static SortedDictionary<string, int> FusedOps(string path)
    {
        using var file = File.OpenRead(path);
        var counts = new SortedDictionary<string, int>(StringComparer.Ordinal);
        foreach (var node in ModelProto.Parser.ParseFrom(file).Graph.Node.Where(n => n.Domain == Graph.OnnxGraphBuilder.MicrosoftDomain))
            counts[node.OpType] = counts.GetValueOrDefault(node.OpType) + 1;
        return counts;
    }

    private static List<ValidationShape> Decoder(string plainPath, string fusedPath, DecoderLmConfig c, double tolerance, Random random)
    {
        var results = new List<ValidationShape>();
        using var plain = OnnxDecoderSession.Open(plainPath);
        using var fused = OnnxDecoderSession.Open(fusedPath);
        foreach (var (batch, wanted) in new[] { (1, 1), (2, 7), (3, 16) })
        {
            var t = Math.Min(wanted, c.MaxSeqLen);
            var padding = batch > 1 ? Math.Min(3, t - 1) : 0;
            var ids = Ids(random, batch * t, c.VocabSize);
            var mask = Enumerable.Range(0, batch * t).Select(i => i / t == batch - 1 && i % t >= t - padding ? 0L : 1L).ToArray();
            results.Add(OnnxValidator.Compare(batch, t, 0, plain.Logits(ids, batch, t, mask), fused.Logits(ids, batch, t, mask), tolerance,
                padding: padding));
        }
        if (plain.WithPast && c.MaxSeqLen >= 6)
        {
            const int batch = 2;
            var p = 5;
            var steps = Math.Min(4, c.MaxSeqLen - p);
            var ids = Ids(random, batch * (p + steps), c.VocabSize);
            using var plainCache = plain.NewCache(batch);
            using var fusedCache = fused.NewCache(batch);
            var prompt = OnnxValidator.Columns(ids, batch, p + steps, 0, p);
            results.Add(OnnxValidator.Compare(batch, p, 0, plain.Step(prompt, batch, p, plainCache), fused.Step(prompt, batch, p, fusedCache), tolerance));
            for (var s = 0; s < steps; s++)
            {
                var next = OnnxValidator.Columns(ids, batch, p + steps, p + s, 1);
                results.Add(OnnxValidator.Compare(batch, 1, p + s, plain.Step(next, batch, 1, plainCache), fused.Step(next, batch, 1, fusedCache), tolerance));
            }
        }
        return results;
    }

    private static List<ValidationShape> Encoder(string plainPath, string fusedPath, EncoderLmConfig c, double tolerance, Random random)
    {
        var results = new List<ValidationShape>();
        using var plain = new OrtOutputs(plainPath);
        using var fused = new OrtOutputs(fusedPath);
        foreach (var (batch, wanted, pad) in new[] { (1, 5, 0), (2, 9, 4), (3, 16, 0) })
        {
            var t = Math.Min(wanted, c.MaxSeqLen);
            var padding = Math.Min(pad, t - 1);
            var ids = Ids(random, batch * t, c.VocabSize);
            var mask = Enumerable.Range(0, batch * t).Select(i => i / t == 1 && i % t >= t - padding ? 0L : 1L).ToArray();
            var types = Enumerable.Range(0, batch * t).Select(i => c.TypeVocabSize > 1 && i % t >= t / 2 ? 1L : 0L).ToArray();
            long[] shape = [batch, t];
            var inputs = new Dictionary<string, (Array, long[])> { ["input_ids"] = (ids, shape), ["attention_mask"] = (mask, shape) };
            if (plain.Inputs.Contains("token_type_ids"))
                inputs["token_type_ids"] = (types, shape);
            var want = plain.Run(inputs);
            var got = fused.Run(inputs);
            foreach (var (name, reference) in want)
            {
                var expected = reference;
                var actual = got.TryGetValue(name, out var a) ? a : throw new OnnxExportException($"{fusedPath} has no output '{name}'.");
                if (name == "last_hidden_state")
                    (expected, actual) = (EncoderValidator.RealTokens(expected, mask, c.EmbedDim), EncoderValidator.RealTokens(actual, mask, c.EmbedDim));
                results.Add(OnnxValidator.Compare(batch, t, 0, expected, actual, tolerance, name, padding));
            }
        }
        return results;
    }

    private static List<ValidationShape> Vit(string plainPath, string fusedPath, VitConfig c, double tolerance, Random random)
    {
        var results = new List<ValidationShape>();
        using var plain = new OrtOutputs(plainPath);
        using var fused = new OrtOutputs(fusedPath);
        foreach (var batch in new[] { 1, 2, 3 })
        {
            long[] shape = [batch, c.NumChannels, c.ImageSize, c.ImageSize];
            var pixels = Enumerable.Range(0, (int)(shape[0] * shape[1] * shape[2] * shape[3])).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
            var inputs = new Dictionary<string, (Array, long[])> { ["pixel_values"] = (pixels, shape) };
            var want = plain.Run(inputs);
            var got = fused.Run(inputs);
            foreach (var (name, expected) in want)
                results.Add(OnnxValidator.Compare(batch, 0, 0, expected, got[name], tolerance, name));
        }
        return results;
    }

    private static long[] Ids(Random random, int n, int vocab) => Enumerable.Range(0, n).Select(_ => (long)random.Next(vocab)).ToArray();
}
