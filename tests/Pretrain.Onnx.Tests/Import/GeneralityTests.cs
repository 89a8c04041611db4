using Pretrain.Models.Text;
using Pretrain.Onnx.Export;
using Pretrain.Onnx.Import;
using Pretrain.Onnx.Runtime;

namespace Pretrain.Onnx.Tests.Import;

/// <summary>
/// The importer reads BERT-family graphs in general: tiny random encoders of other shapes, exported by our own
/// <see cref="EncoderLmEmitter"/> (fused LayerNormalization, v/q/k emitted in that order, a Mul score scale, weights
/// named by our state-dict keys), come back with the same configuration and the same outputs.
/// </summary>
[Collection("torch")]
public sealed class GeneralityTests
{
    public static TheoryData<bool, bool, bool> Variants => new()
    {
        { true, true, false },   // post-LN BERT with a pooler, fp32
        { false, false, false }, // pre-LN, no pooler
        { true, false, true },   // fp16 weights in external data
    };

    [Theory]
    [MemberData(nameof(Variants))]
    public void Export_then_import_gives_back_the_configuration_and_the_outputs(bool postNorm, bool pooler, bool fp16)
    {
        var config = new EncoderLmConfig
        {
            VocabSize = 97,
            MaxSeqLen = 40,
            TypeVocabSize = 3,
            EmbedDim = 48,
            NumLayers = 3,
            NumHeads = 6,
            MlpHiddenDim = 80,
            NormEps = 1e-7,
            PostNorm = postNorm,
            Pooler = pooler,
        };
        var dir = Directory.CreateTempSubdirectory("pretrain-import-").FullName;
        try
        {
            using var original = new EncoderLm(config);
            original.InitializeWeights(11);
            original.eval();
            var options = new ExportOptions { Dtype = fp16 ? OnnxDtype.Fp16 : OnnxDtype.Fp32, ExternalDataThreshold = fp16 ? 1024 : ExportOptions.DefaultExternalDataThreshold };
            var external = OnnxExporter.WriteEncoder(original, dir, options);
            Assert.Equal(fp16, external);

            var imported = BertOnnxImporter.Import(Path.Combine(dir, "model.onnx"));
            using var model = imported.Model;
            Assert.Equal(config, imported.Config);
            Assert.Contains("heads 6 (from the head-splitting Reshape, head_dim 8)", imported.Inferred);
            Assert.Empty(imported.Unused);

            var ids = Enumerable.Range(0, 2 * 9).Select(i => (long)(i * 7 % 97)).ToArray();
            long[] mask = [.. Enumerable.Repeat(1L, 9), .. Enumerable.Repeat(1L, 6), 0, 0, 0];
            long[] types = [.. Enumerable.Repeat(0L, 5), .. Enumerable.Repeat(2L, 4), .. Enumerable.Repeat(1L, 9)];
            using var session = OnnxEncoderSession.Open(Path.Combine(dir, "model.onnx"), threads: 1);
            var diff = EncoderOutputs.MaxAbsDiff(model, session, ids, 2, 9, mask, types);
            Assert.True(diff <= (fp16 ? 1e-4 : 1e-5), $"max |Δ| vs ORT = {diff:G3}");
            if (!fp16)
                Assert.Equal(EncoderOutputs.Run(original, ids, 2, 9, mask, types), EncoderOutputs.Run(model, ids, 2, 9, mask, types));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Overrides_win_over_the_graph_and_are_reported()
    {
        var config = new EncoderLmConfig { VocabSize = 50, MaxSeqLen = 16, EmbedDim = 32, NumLayers = 1, NumHeads = 4 };
        var dir = Directory.CreateTempSubdirectory("pretrain-import-").FullName;
        try
        {
            using (var original = new EncoderLm(config))
                OnnxExporter.WriteEncoder(original, dir, new ExportOptions());
            var imported = BertOnnxImporter.Import(Path.Combine(dir, "model.onnx"), new BertImportOptions { NumHeads = 8, NormEps = 1e-5 });
            using var model = imported.Model;
            Assert.Equal((8, 1e-5), (imported.Config.NumHeads, imported.Config.NormEps));
            Assert.Contains("heads 8 (--num-heads; the graph suggests 4)", imported.Inferred);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void A_file_that_is_not_onnx_is_one_clear_error()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(path, [0x08, 0x07, 0x12, 0xff, 0x01]);
            var e = Assert.Throws<OnnxImportException>(() => BertOnnxImporter.Import(path));
            Assert.Contains(path, e.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
