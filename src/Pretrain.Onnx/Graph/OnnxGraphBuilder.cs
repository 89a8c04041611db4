using Google.Protobuf;
using Pretrain.Onnx.Proto;
using static Pretrain.Onnx.Proto.TensorProto.Types;

namespace Pretrain.Onnx.Graph;

/// <summary>
/// Builds one ONNX graph: typed inputs and outputs, named initializers (raw little-endian bytes, kept apart from the
/// protobuf until <see cref="OnnxModelWriter"/> decides inline or external storage), and nodes with fresh value names
/// under a scope prefix ("/blocks.0/attn/MatMul_12"). Opset differences the emitters meet (ReduceMean's axes,
/// Split's output count) are handled here, so emitters read as the math.
/// </summary>
internal sealed class OnnxGraphBuilder
{
    private readonly Dictionary<string, string> _constants = new(StringComparer.Ordinal);
    private int _counter;

    public OnnxGraphBuilder(int opset, string name)
    {
        Opset = opset;
        Graph = new GraphProto { Name = name };
    }

    /// <summary>Opset of the default ("ai.onnx") domain.</summary>
    public int Opset { get; }

    /// <summary>The graph: nodes, inputs, outputs (initializers are added by the writer).</summary>
    public GraphProto Graph { get; }

    /// <summary>Initializers in the order they were added.</summary>
    public List<OnnxInitializer> Initializers { get; } = [];

    /// <summary>Prefix of generated node and value names, e.g. "/blocks.3/attn".</summary>
    public string Scope { get; set; } = "";

    /// <summary>Declares a graph input; a dimension is a size (long/int) or a symbolic name (string).</summary>
    public string Input(string name, DataType type, params object[] dims)
    {
        Graph.Input.Add(ValueInfo(name, type, dims));
        return name;
    }

    /// <summary>Declares a graph output that an earlier node wrote under <paramref name="name"/>.</summary>
    public void Output(string name, DataType type, params object[] dims) => Graph.Output.Add(ValueInfo(name, type, dims));

    /// <summary>Adds an initializer; returns its name.</summary>
    public string Initializer(string name, DataType type, long[] dims, byte[] data)
    {
        Initializers.Add(new OnnxInitializer(name, type, dims, data));
        return name;
    }

    /// <summary>An int64 constant (1-D of the given values, or a scalar when <paramref name="scalar"/>), made once.</summary>
    public string Int64(long[] values, bool scalar = false)
    {
        var key = (scalar ? "s:" : "v:") + string.Join(",", values);
        if (_constants.TryGetValue(key, out var name))
            return name;
        var data = new byte[values.Length * 8];
        Buffer.BlockCopy(values, 0, data, 0, data.Length);
        name = $"const_i64_{_constants.Count}";
        _constants[key] = Initializer(name, DataType.Int64, scalar ? [] : [values.Length], data);
        return name;
    }

    /// <summary>A float32 scalar constant, made once per value.</summary>
    public string Float(float value)
    {
        var key = "f:" + BitConverter.SingleToInt32Bits(value);
        if (_constants.TryGetValue(key, out var name))
            return name;
        name = $"const_f32_{_constants.Count}";
        _constants[key] = Initializer(name, DataType.Float, [], BitConverter.GetBytes(value));
        return name;
    }

    /// <summary>Adds a node with one fresh output; attributes as (name, value) with int/long/float/string/long[] values.</summary>
    public string Op(string opType, string[] inputs, params (string Name, object Value)[] attributes) =>
        OpNamed(opType, inputs, [Fresh(opType)], attributes)[0];

    /// <summary>Adds a node whose outputs have the given names.</summary>
    public string[] OpNamed(string opType, string[] inputs, string[] outputs, params (string Name, object Value)[] attributes) =>
        Node("", opType, inputs, outputs, attributes);

    /// <summary>Domain of ONNX Runtime's contrib operators (Attention, SkipLayerNormalization, BiasGelu, …).</summary>
    public const string MicrosoftDomain = "com.microsoft";

    /// <summary>
    /// Adds an ONNX Runtime contrib operator (<see cref="MicrosoftDomain"/>, version 1) with the given outputs; an empty
    /// output name leaves an optional output out. The writer imports the domain when the graph uses it.
    /// </summary>
    public string[] MsOp(string opType, string[] inputs, string[] outputs, params (string Name, object Value)[] attributes) =>
        Node(MicrosoftDomain, opType, inputs, outputs, attributes);

    private string[] Node(string domain, string opType, string[] inputs, string[] outputs, (string Name, object Value)[] attributes)
    {
        var node = new NodeProto { OpType = opType, Domain = domain, Name = outputs[0] + "_node" };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        foreach (var (name, value) in attributes)
            node.Attribute.Add(Attribute(name, value));
        Graph.Node.Add(node);
        return outputs;
    }

    /// <summary>ReduceMean over <paramref name="axes"/>, keeping dims: an attribute up to opset 17, an input from 18.</summary>
    public string ReduceMean(string x, long[] axes) => Opset < 18
        ? Op("ReduceMean", [x], ("axes", axes), ("keepdims", 1L))
        : Op("ReduceMean", [x, Int64(axes)], ("keepdims", 1L));

    /// <summary>Splits the last axis into two equal halves (num_outputs is required from opset 18).</summary>
    public (string First, string Second) SplitHalves(string x)
    {
        var outputs = new[] { Fresh("Split"), Fresh("Split") };
        if (Opset < 18)
            OpNamed("Split", [x], outputs, ("axis", -1L));
        else
            OpNamed("Split", [x], outputs, ("axis", -1L), ("num_outputs", 2L));
        return (outputs[0], outputs[1]);
    }

    /// <summary>Splits the last axis into <paramref name="n"/> equal parts.</summary>
    public string[] Split(string x, int n)
    {
        var outputs = Enumerable.Range(0, n).Select(_ => Fresh("Split")).ToArray();
        if (Opset < 18)
            OpNamed("Split", [x], outputs, ("axis", -1L));
        else
            OpNamed("Split", [x], outputs, ("axis", -1L), ("num_outputs", (long)n));
        return outputs;
    }

    /// <summary>A new value name under the current scope.</summary>
    public string Fresh(string hint) => $"{Scope}/{hint}_{_counter++}";

    private static AttributeProto Attribute(string name, object value)
    {
        var a = new AttributeProto { Name = name };
        switch (value)
        {
            case int i: a.Type = AttributeProto.Types.AttributeType.Int; a.I = i; break;
            case long l: a.Type = AttributeProto.Types.AttributeType.Int; a.I = l; break;
            case float f: a.Type = AttributeProto.Types.AttributeType.Float; a.F = f; break;
            case double d: a.Type = AttributeProto.Types.AttributeType.Float; a.F = (float)d; break;
            case string s: a.Type = AttributeProto.Types.AttributeType.String; a.S = ByteString.CopyFromUtf8(s); break;
            case long[] ls: a.Type = AttributeProto.Types.AttributeType.Ints; a.Ints.AddRange(ls); break;
            default: throw new ArgumentException($"Attribute '{name}': unsupported value type {value.GetType().Name}.");
        }
        return a;
    }

    private static ValueInfoProto ValueInfo(string name, DataType type, object[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
        {
            shape.Dim.Add(d switch
            {
                string p => new TensorShapeProto.Types.Dimension { DimParam = p },
                int i => new TensorShapeProto.Types.Dimension { DimValue = i },
                long l => new TensorShapeProto.Types.Dimension { DimValue = l },
                _ => throw new ArgumentException($"Dimension of '{name}' must be a size or a name."),
            });
        }
        var tensor = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape };
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = tensor } };
    }
}
