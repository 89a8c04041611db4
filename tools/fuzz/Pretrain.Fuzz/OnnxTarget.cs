using Google.Protobuf;
using Pretrain.Models.Text;
using Pretrain.Onnx.Export;
using Pretrain.Onnx.Import;
using Pretrain.Onnx.Proto;

namespace Pretrain.Fuzz;

/// <summary>ONNX import of a BERT encoder: initializer shapes, dtypes and bytes, node ops, inputs and attributes.</summary>
public sealed class OnnxTarget : IFuzzTarget
{
    private static readonly string[] Ops = ["MatMul", "Add", "Gemm", "LayerNormalization", "Softmax", "Gather", "Reshape", "Transpose", "Identity", "", "Erf", "Mul", "Div"];
    private byte[] _seed = [];

    public string Name => "onnx";

    public void Prepare(string workDir)
    {
        var config = new EncoderLmConfig { VocabSize = 30, MaxSeqLen = 8, TypeVocabSize = 2, EmbedDim = 8, NumLayers = 1, NumHeads = 2, MlpHiddenDim = 16 };
        using var model = new EncoderLm(config);
        model.InitializeWeights(3);
        model.eval();
        string dir = Path.Combine(workDir, "onnx-seed");
        Directory.CreateDirectory(dir);
        OnnxExporter.WriteEncoder(model, dir, new ExportOptions());
        _seed = File.ReadAllBytes(Path.Combine(dir, "model.onnx"));
    }

    public FuzzInput Next(Random random)
    {
        byte[] bytes = random.Next(4) == 0 ? Mutate.Bytes(random, _seed) : Structured(random);
        return new FuzzInput(new Dictionary<string, byte[]> { ["model.onnx"] = bytes }, []);
    }

    private byte[] Structured(Random r)
    {
        var model = ModelProto.Parser.ParseFrom(_seed);
        var g = model.Graph;
        for (int edits = r.Next(1, 4); edits > 0; edits--)
        {
            switch (r.Next(8))
            {
                case 0 when g.Initializer.Count > 0:
                    var t = g.Initializer[r.Next(g.Initializer.Count)];
                    if (t.Dims.Count > 0)
                        t.Dims[r.Next(t.Dims.Count)] = Mutate.Integer(r, t.Dims[0]);
                    else
                        t.Dims.Add(Mutate.Integer(r, 1));
                    break;
                case 1 when g.Initializer.Count > 0:
                    var raw = g.Initializer[r.Next(g.Initializer.Count)];
                    raw.RawData = ByteString.CopyFrom(raw.RawData.Span[..r.Next(raw.RawData.Length + 1)]);
                    break;
                case 2 when g.Initializer.Count > 0:
                    g.Initializer[r.Next(g.Initializer.Count)].DataType = r.Next(-1, 20);
                    break;
                case 3 when g.Node.Count > 0:
                    g.Node[r.Next(g.Node.Count)].OpType = Ops[r.Next(Ops.Length)];
                    break;
                case 4 when g.Node.Count > 0:
                    var node = g.Node[r.Next(g.Node.Count)];
                    if (node.Input.Count > 0)
                        node.Input.RemoveAt(r.Next(node.Input.Count));
                    break;
                case 5 when g.Node.Count > 0:
                    var withAttr = g.Node[r.Next(g.Node.Count)];
                    if (withAttr.Attribute.Count > 0)
                    {
                        var a = withAttr.Attribute[r.Next(withAttr.Attribute.Count)];
                        a.I = Mutate.Integer(r, a.I);
                        a.F = r.Next(2) == 0 ? float.NaN : (float)Mutate.Integer(r, 1);
                        if (a.Ints.Count > 0)
                            a.Ints[r.Next(a.Ints.Count)] = Mutate.Integer(r, a.Ints[0]);
                    }

                    break;
                case 6 when g.Node.Count > 0:
                    g.Node.RemoveAt(r.Next(g.Node.Count));
                    break;
                case 7 when g.Initializer.Count > 1:
                    var (x, y) = (g.Initializer[r.Next(g.Initializer.Count)], g.Initializer[r.Next(g.Initializer.Count)]);
                    (x.Name, y.Name) = (y.Name, x.Name);
                    break;
            }
        }

        return model.ToByteArray();
    }

    public void Run(FuzzInput input, string dir)
    {
        var result = BertOnnxImporter.Import(input.Files["model.onnx"], Path.Combine(dir, "model.onnx"), dir);
        result.Model.Dispose();
    }

    public IReadOnlyList<string> Names(FuzzInput input) => ["model.onnx"];
}
