using Google.Protobuf;
using Pretrain.Models.Text;
using Pretrain.Onnx.Export;
using Pretrain.Onnx.Import;
using Pretrain.Onnx.Proto;

namespace Pretrain.Onnx.Tests.Import;

/// <summary>ONNX graphs tools/fuzz found crashing the importer, made from a tiny valid export: each gets one line naming the file.</summary>
[Collection("torch")]
public sealed class OnnxFuzzCrasherTests
{
    private static ModelProto Tiny()
    {
        var config = new EncoderLmConfig { VocabSize = 30, MaxSeqLen = 8, TypeVocabSize = 2, EmbedDim = 8, NumLayers = 1, NumHeads = 2, MlpHiddenDim = 16 };
        using var model = new EncoderLm(config);
        model.InitializeWeights(3);
        model.eval();
        var dir = Directory.CreateTempSubdirectory("pretrain-onnx-fuzz-").FullName;
        try
        {
            OnnxExporter.WriteEncoder(model, dir, new ExportOptions());
            return ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(dir, "model.onnx")));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static void AssertRefused(ModelProto model, string expected)
    {
        var e = Assert.Throws<OnnxImportException>(() => BertOnnxImporter.Import(model.ToByteArray(), "bad.onnx", null));
        Assert.StartsWith("bad.onnx: ", e.Message);
        Assert.Contains(expected, e.Message);
        Assert.Null(e.InnerException);
    }

    [Fact]
    public void A_node_missing_a_required_input_is_refused_naming_it()
    {
        var model = Tiny();
        var reshape = model.Graph.Node.First(n => n.OpType is "MatMul" or "Reshape");
        reshape.Input.RemoveAt(1);
        AssertRefused(model, $"({reshape.OpType}) has 1 inputs");
    }

    [Fact]
    public void Dims_whose_product_overflows_are_refused()
    {
        var model = Tiny();
        var weight = model.Graph.Initializer.First(t => t.Dims.Count == 2);
        weight.Dims[0] = long.MaxValue / 4;
        var e = Assert.Throws<OnnxImportException>(() => BertOnnxImporter.Import(model.ToByteArray(), "bad.onnx", null));
        Assert.StartsWith("bad.onnx: ", e.Message);
        Assert.Matches("overflows|not a usable size", e.Message);
    }
}
