using Pretrain.Onnx.Proto;

namespace Pretrain.Onnx.Import;

/// <summary>
/// Lookups over one ONNX graph: which node writes a value, which nodes read it (and at which input), the
/// constants (initializers and <c>Constant</c> nodes), and each node's position in the (topologically sorted) node list.
/// </summary>
internal sealed class OnnxGraphIndex
{
    private readonly Dictionary<string, NodeProto> _producer = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<(NodeProto Node, int Input)>> _consumers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, TensorProto> _constants = new(StringComparer.Ordinal);
    private readonly Dictionary<NodeProto, int> _order = new(ReferenceEqualityComparer.Instance);

    public OnnxGraphIndex(GraphProto graph, OnnxTensorData data)
    {
        Graph = graph;
        Data = data;
        foreach (var init in graph.Initializer)
        {
            Initializers[init.Name] = init;
            _constants[init.Name] = init;
        }
        for (var i = 0; i < graph.Node.Count; i++)
        {
            var node = graph.Node[i];
            _order[node] = i;
            foreach (var output in node.Output)
                _producer[output] = node;
            for (var j = 0; j < node.Input.Count; j++)
            {
                if (node.Input[j].Length == 0)
                    continue;
                if (!_consumers.TryGetValue(node.Input[j], out var list))
                    _consumers[node.Input[j]] = list = [];
                list.Add((node, j));
            }
            if (node.OpType == "Constant" && node.Output.Count == 1 && ConstantValue(node) is { } value)
                _constants[node.Output[0]] = value;
        }
        Inputs = graph.Input.Select(i => i.Name).Where(n => !Initializers.ContainsKey(n)).ToHashSet(StringComparer.Ordinal);
    }

    public GraphProto Graph { get; }

    public OnnxTensorData Data { get; }

    /// <summary>Initializers by name.</summary>
    public Dictionary<string, TensorProto> Initializers { get; } = new(StringComparer.Ordinal);

    /// <summary>Graph inputs that are not initializers (input_ids, attention_mask, ...).</summary>
    public HashSet<string> Inputs { get; }

    public NodeProto? Producer(string value) => _producer.GetValueOrDefault(value);

    public IReadOnlyList<(NodeProto Node, int Input)> Consumers(string value) =>
        _consumers.TryGetValue(value, out var list) ? list : [];

    public int Order(NodeProto node) => _order[node];

    /// <summary>Follows Identity and Cast nodes back to the value they copy (an fp16 export Casts its weights to float32).</summary>
    public string Resolve(string value)
    {
        for (var i = 0; i < 64 && Producer(value) is { OpType: "Identity" or "Cast" } node; i++)
            value = node.Input[0];
        return value;
    }

    /// <summary>The initializer behind a value (through Identity), or null.</summary>
    public TensorProto? Initializer(string value) => Initializers.GetValueOrDefault(Resolve(value));

    /// <summary>A float initializer of the given rank behind a value, or null.</summary>
    public TensorProto? FloatInitializer(string value, int rank) =>
        Initializer(value) is { } t && t.Dims.Count == rank && IsFloat(t) ? t : null;

    /// <summary>The values of a constant (initializer or Constant node, through Identity), or null.</summary>
    public double[]? Values(string value) =>
        _constants.TryGetValue(Resolve(value), out var t) ? Data.Values(t) : null;

    /// <summary>A scalar constant (any single-element tensor), or null.</summary>
    public double? Scalar(string value) => Values(value) is [var v] ? v : null;

    /// <summary>Whether a value is a constant (weights and constants, not computed from the inputs).</summary>
    public bool IsConstant(string value) => _constants.ContainsKey(Resolve(value));

    public static bool IsFloat(TensorProto t) =>
        (TensorProto.Types.DataType)t.DataType is TensorProto.Types.DataType.Float or TensorProto.Types.DataType.Float16
            or TensorProto.Types.DataType.Bfloat16 or TensorProto.Types.DataType.Double;

    public static AttributeProto? Attribute(NodeProto node, string name) => node.Attribute.FirstOrDefault(a => a.Name == name);

    private static TensorProto? ConstantValue(NodeProto node)
    {
        foreach (var a in node.Attribute)
        {
            switch (a.Name)
            {
                case "value" when a.T is not null:
                    return a.T;
                case "value_float":
                    var f = new TensorProto { DataType = (int)TensorProto.Types.DataType.Float };
                    f.FloatData.Add(a.F);
                    return f;
                case "value_int":
                    var i = new TensorProto { DataType = (int)TensorProto.Types.DataType.Int64 };
                    i.Int64Data.Add(a.I);
                    return i;
                case "value_ints":
                    var v = new TensorProto { DataType = (int)TensorProto.Types.DataType.Int64 };
                    v.Dims.Add(a.Ints.Count);
                    v.Int64Data.AddRange(a.Ints);
                    return v;
                case "value_floats":
                    var fs = new TensorProto { DataType = (int)TensorProto.Types.DataType.Float };
                    fs.Dims.Add(a.Floats.Count);
                    fs.FloatData.AddRange(a.Floats);
                    return fs;
            }
        }
        return null;
    }
}
