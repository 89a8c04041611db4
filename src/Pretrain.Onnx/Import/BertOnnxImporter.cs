using Google.Protobuf;
using Pretrain.Models.Text;
using Pretrain.Models.Weights;
using Pretrain.Onnx.Proto;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Onnx.Import;

/// <summary>
/// Imports the weights of a BERT-family ONNX export (e.g. sentence-transformers' all-MiniLM-L6-v2) into an
/// <see cref="EncoderLm"/>: initializers are decoded (raw or typed data, fp32/fp16/bf16, external data), the graph is
/// analysed to name them in Hugging Face's BERT layout and to infer the configuration (see
/// <see cref="BertGraphAnalyzer"/>), and the tensors go through <see cref="HfEncoderLayout.LoadHf"/>, which checks
/// missing, unexpected and mis-shaped tensors all at once before loading anything.
/// </summary>
public static class BertOnnxImporter
{
    /// <summary>Imports an .onnx file (external data is read from its folder).</summary>
    public static BertImportResult Import(string onnxPath, BertImportOptions? options = null)
    {
        if (!File.Exists(onnxPath))
            throw new OnnxImportException($"{onnxPath} does not exist; pass an .onnx file.");
        return Import(File.ReadAllBytes(onnxPath), onnxPath, Path.GetDirectoryName(Path.GetFullPath(onnxPath)), options);
    }

    /// <summary>Imports a serialized ModelProto; <paramref name="source"/> names it in messages.</summary>
    public static BertImportResult Import(byte[] model, string source, string? baseDirectory, BertImportOptions? options = null)
    {
        var proto = Parse(model, source);
        OnnxNodeArity.Check(proto.Graph, source);
        var data = new OnnxTensorData(source, baseDirectory);
        var g = new OnnxGraphIndex(proto.Graph, data);
        var layout = BertGraphAnalyzer.Analyze(g, source, options ?? new BertImportOptions());

        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        EncoderLm? encoder = null;
        try
        {
            foreach (var (hf, (init, transpose)) in layout.Tensors)
            {
                var stored = data.Float32(g.Initializers.TryGetValue(init, out var initializer) ? initializer
                    : throw new OnnxImportException($"{source}: '{init}', used as {hf}, is not an initializer of the graph; the model is damaged."));
                if (transpose)
                {
                    using (stored)
                    using (var view = stored.t())
                        tensors[hf] = view.contiguous(); // [in, out] → nn.Linear's [out, in]
                }
                else
                {
                    tensors[hf] = stored;
                }
            }
            encoder = new EncoderLm(layout.Config);
            HfEncoderLayout.LoadHf(encoder, tensors);
            encoder.eval();
            var inputs = g.Inputs.Order(StringComparer.Ordinal).ToList();
            return new BertImportResult(encoder, layout.Config, layout.Inferred, layout.Unused, inputs, layout.OutputName);
        }
        catch (WeightsException e)
        {
            encoder?.Dispose();
            throw new OnnxImportException($"{source}: {e.Message}", e);
        }
        catch
        {
            encoder?.Dispose();
            throw;
        }
        finally
        {
            foreach (var t in tensors.Values)
                t.Dispose();
        }
    }

    private static ModelProto Parse(byte[] bytes, string source)
    {
        ModelProto model;
        try
        {
            model = ModelProto.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new OnnxImportException($"{source} is not a readable ONNX model (protobuf: {e.Message}); the file may be truncated or not ONNX at all.", e);
        }
        if (model.Graph is null || model.Graph.Node.Count == 0)
            throw new OnnxImportException($"{source} holds no ONNX graph; pass a model.onnx file.");
        return model;
    }
}
