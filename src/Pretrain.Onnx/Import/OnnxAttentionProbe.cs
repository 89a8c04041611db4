using Pretrain.Onnx.Proto;

namespace Pretrain.Onnx.Import;

/// <summary>
/// Follows a projection's output through the attention computation: whether it is the query, key or value (by the
/// activation×activation MatMul it reaches and at which input), how many heads the head-splitting Reshape makes,
/// the 1/√head_dim scale, and which operators sit between the MLP's two Linear layers.
/// </summary>
internal static class OnnxAttentionProbe
{
    private static readonly HashSet<string> ShapeOps = ["Reshape", "Transpose", "Squeeze", "Unsqueeze"];
    private static readonly HashSet<string> ElementwiseOps = ["Mul", "Div", "Add", "Sub", "Cast", "Identity", "Dropout"];

    /// <summary>'q', 'k' or 'v' for a projection output, plus the Reshape nodes on its way and the score MatMul.</summary>
    public static (char Role, List<NodeProto> Reshapes, NodeProto MatMul)? Role(OnnxGraphIndex g, string value)
    {
        var reshapes = new List<NodeProto>();
        var seen = new HashSet<string>(StringComparer.Ordinal) { value };
        var queue = new Queue<(string Value, int Depth)>([(value, 0)]);
        while (queue.Count > 0)
        {
            var (v, depth) = queue.Dequeue();
            foreach (var (node, input) in g.Consumers(v))
            {
                if (node.OpType == "MatMul" && !g.IsConstant(node.Input[0]) && !g.IsConstant(node.Input[1]))
                {
                    var role = input == 1 && FromSoftmax(g, node.Input[0]) ? 'v' : input == 0 ? 'q' : 'k';
                    return (role, reshapes, node);
                }
                var passes = (ShapeOps.Contains(node.OpType) && input == 0) || ElementwiseOps.Contains(node.OpType);
                if (!passes || depth > 12 || !seen.Add(node.Output[0]))
                    continue;
                if (node.OpType == "Reshape")
                    reshapes.Add(node);
                queue.Enqueue((node.Output[0], depth + 1));
            }
        }
        return null;
    }

    /// <summary>(heads, head_dim) from a Reshape target [.., .., heads, head_dim] (constant, or a Concat of constants and sizes); nulls where unknown.</summary>
    public static (long? Heads, long? HeadDim) SplitShape(OnnxGraphIndex g, NodeProto reshape)
    {
        var dims = g.Values(reshape.Input[1]) is { } constant
            ? constant.Select(v => (long?)v).ToArray()
            : g.Producer(reshape.Input[1]) is { OpType: "Concat" } concat
                ? concat.Input.SelectMany(i => g.Values(i) is { } vs ? vs.Select(v => (long?)v) : [null]).ToArray()
                : null;
        if (dims is not { Length: 4 })
            return (null, null);
        return (dims[2] > 0 ? dims[2] : null, dims[3] > 0 ? dims[3] : null);
    }

    /// <summary>head_dim from the scale applied to the scores (Div by √d or Mul by 1/√d) or to the query before its MatMul.</summary>
    public static long? HeadDimFromScale(OnnxGraphIndex g, NodeProto scores)
    {
        foreach (var (node, input) in g.Consumers(scores.Output[0]))
        {
            var other = node.Input.Count == 2 ? g.Scalar(node.Input[1 - input]) : null;
            if (other is not double c || c <= 0)
                continue;
            if (node.OpType == "Div" && input == 0)
                return (long)Math.Round(c * c);
            if (node.OpType == "Mul")
                return (long)Math.Round(1 / (c * c));
        }
        return null;
    }

    /// <summary>The operator types between <paramref name="from"/> and <paramref name="to"/> (the MLP activation).</summary>
    public static List<NodeProto> Between(OnnxGraphIndex g, string from, string to)
    {
        var nodes = new List<NodeProto>();
        var seen = new HashSet<string>(StringComparer.Ordinal) { from };
        var queue = new Queue<string>([from]);
        while (queue.Count > 0 && nodes.Count < 64)
        {
            var v = queue.Dequeue();
            if (v == to)
                continue;
            foreach (var (node, _) in g.Consumers(v))
            {
                if (!seen.Add(node.Output[0]))
                    continue;
                nodes.Add(node);
                queue.Enqueue(node.Output[0]);
            }
        }
        return nodes;
    }

    /// <summary>Hugging Face hidden_act of the operators between the MLP's Linear layers.</summary>
    public static string Activation(IReadOnlyList<NodeProto> nodes)
    {
        var ops = nodes.Select(n => n.OpType).ToHashSet(StringComparer.Ordinal);
        if (nodes.FirstOrDefault(n => n.OpType == "Gelu") is { } gelu)
            return OnnxGraphIndex.Attribute(gelu, "approximate")?.S.ToStringUtf8() == "tanh" ? "gelu_new" : "gelu";
        if (ops.Contains("Erf"))
            return "gelu";
        if (ops.Contains("Tanh"))
            return "gelu_new";
        if (ops.Contains("Sigmoid"))
            return "silu/quick_gelu";
        if (ops.Contains("Relu"))
            return "relu";
        return $"unknown ({string.Join(", ", ops.Order(StringComparer.Ordinal))})";
    }

    /// <summary>Whether a value comes from a Softmax (through Cast/Identity/Dropout/Where).</summary>
    private static bool FromSoftmax(OnnxGraphIndex g, string value)
    {
        for (var i = 0; i < 8; i++)
        {
            var node = g.Producer(value);
            if (node is null)
                return false;
            if (node.OpType == "Softmax")
                return true;
            if (node.OpType is not ("Cast" or "Identity" or "Dropout" or "Where"))
                return false;
            value = node.OpType == "Where" ? node.Input[1] : node.Input[0];
        }
        return false;
    }
}
