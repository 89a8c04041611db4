using Pretrain.Onnx.Proto;

namespace Pretrain.Onnx.Import;

/// <summary>
/// Inputs and outputs each node must have for its op (ONNX's operator signatures, the required ones), checked once
/// before the graph is analysed, so the pattern matchers can index node.Input[i] without a bounds check each.
/// </summary>
internal static class OnnxNodeArity
{
    private static readonly Dictionary<string, int> RequiredInputs = new(StringComparer.Ordinal)
    {
        ["MatMul"] = 2, ["Gemm"] = 2, ["Add"] = 2, ["Sub"] = 2, ["Mul"] = 2, ["Div"] = 2, ["Pow"] = 2, ["Equal"] = 2,
        ["Reshape"] = 2, ["Gather"] = 2, ["Expand"] = 2, ["Where"] = 3, ["Slice"] = 3, ["LayerNormalization"] = 2,
        ["Transpose"] = 1, ["Softmax"] = 1, ["Erf"] = 1, ["Tanh"] = 1, ["Sqrt"] = 1, ["Relu"] = 1, ["Cast"] = 1,
        ["Unsqueeze"] = 1, ["Squeeze"] = 1, ["Shape"] = 1, ["ReduceMean"] = 1, ["Concat"] = 1, ["Identity"] = 1,
        ["Sigmoid"] = 1, ["Neg"] = 1, ["Reciprocal"] = 1, ["Gelu"] = 1, ["Split"] = 1,
    };

    /// <exception cref="OnnxImportException">A node lacks an input or output its op requires; names the node.</exception>
    public static void Check(GraphProto? graph, string source)
    {
        if (graph is null)
            throw new OnnxImportException($"{source}: the model has no graph; it is not a model export or is damaged.");
        for (int i = 0; i < graph.Node.Count; i++)
        {
            var node = graph.Node[i];
            int inputs = RequiredInputs.GetValueOrDefault(node.OpType, 0);
            if (node.Input.Count < inputs || node.Output.Count < 1)
            {
                string name = node.Name.Length > 0 ? node.Name : $"#{i}";
                throw new OnnxImportException($"{source}: node {name} ({node.OpType}) has {node.Input.Count} inputs and "
                    + $"{node.Output.Count} outputs; {node.OpType} needs at least {inputs} and 1. The model is damaged.");
            }
        }
    }
}
