using Pretrain.Onnx.Proto;

namespace Pretrain.Onnx.Import;

/// <summary>Finds the building blocks of a transformer in an ONNX graph: LayerNorms, Linear layers, embedding lookups.</summary>
internal static class OnnxPatterns
{
    /// <summary>Every LayerNorm, fused or decomposed, in graph order.</summary>
    public static List<OnnxLayerNorm> LayerNorms(OnnxGraphIndex g)
    {
        var result = new List<OnnxLayerNorm>();
        foreach (var node in g.Graph.Node)
        {
            if (node.OpType == "LayerNormalization" && node.Input.Count >= 3)
            {
                var eps = OnnxGraphIndex.Attribute(node, "epsilon")?.F ?? 1e-5f;
                result.Add(new OnnxLayerNorm(g.Resolve(node.Input[1]), g.Resolve(node.Input[2]), Shortest(eps), node.Input[0], node.Output[0], g.Order(node)));
            }
            else if (node.OpType == "Sqrt" && Decomposed(g, node) is { } norm)
            {
                result.Add(norm);
            }
        }
        return result.OrderBy(n => n.Order).ToList();
    }

    /// <summary>Every MatMul/Gemm whose right operand is a 2-D float initializer (possibly through Transpose), with its bias Add.</summary>
    public static List<OnnxLinear> Linears(OnnxGraphIndex g)
    {
        var result = new List<OnnxLinear>();
        foreach (var node in g.Graph.Node)
        {
            if (node.OpType == "MatMul" && node.Input.Count == 2)
            {
                string weight;
                bool inOut;
                if (g.FloatInitializer(node.Input[1], 2) is not null)
                    (weight, inOut) = (g.Resolve(node.Input[1]), true);
                else if (g.Producer(g.Resolve(node.Input[1])) is { OpType: "Transpose" } t && g.FloatInitializer(t.Input[0], 2) is not null
                    && (OnnxGraphIndex.Attribute(t, "perm")?.Ints.ToArray() ?? [1, 0]) is [1, 0])
                    (weight, inOut) = (g.Resolve(t.Input[0]), false);
                else
                    continue;
                var output = node.Output[0];
                string? bias = null;
                var consumers = g.Consumers(output);
                if (consumers.Count == 1 && consumers[0].Node is { OpType: "Add" } add
                    && g.FloatInitializer(add.Input[1 - consumers[0].Input], 1) is { } b)
                {
                    bias = g.Resolve(add.Input[1 - consumers[0].Input]);
                    output = add.Output[0];
                }
                result.Add(new OnnxLinear(weight, inOut, bias, node.Input[0], output, node, g.Order(node)));
            }
            else if (node.OpType == "Gemm" && node.Input.Count >= 2 && g.FloatInitializer(node.Input[1], 2) is not null
                && (OnnxGraphIndex.Attribute(node, "transA")?.I ?? 0) == 0
                && (OnnxGraphIndex.Attribute(node, "alpha")?.F ?? 1f) == 1f && (OnnxGraphIndex.Attribute(node, "beta")?.F ?? 1f) == 1f)
            {
                var transB = (OnnxGraphIndex.Attribute(node, "transB")?.I ?? 0) == 1;
                var bias = node.Input.Count > 2 && g.FloatInitializer(node.Input[2], 1) is not null ? g.Resolve(node.Input[2]) : null;
                result.Add(new OnnxLinear(g.Resolve(node.Input[1]), !transB, bias, node.Input[0], node.Output[0], node, g.Order(node)));
            }
        }
        return result;
    }

    /// <summary>Every Gather on a 2-D float initializer along axis 0.</summary>
    public static List<OnnxEmbedding> Embeddings(OnnxGraphIndex g)
    {
        var result = new List<OnnxEmbedding>();
        foreach (var node in g.Graph.Node)
        {
            if (node.OpType != "Gather" || node.Input.Count != 2 || g.FloatInitializer(node.Input[0], 2) is null
                || (OnnxGraphIndex.Attribute(node, "axis")?.I ?? 0) != 0)
                continue;
            result.Add(new OnnxEmbedding(g.Resolve(node.Input[0]), SourceInput(g, node.Input[1]), node.Output[0], g.Order(node)));
        }
        return result;
    }

    /// <summary>float32 epsilon as the shortest double that prints the same (9.99999996e-13 → 1e-12).</summary>
    public static double Shortest(float value) => double.Parse(value.ToString("R", System.Globalization.CultureInfo.InvariantCulture), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The graph input a value is computed from through Cast/Identity/Unsqueeze/Squeeze/Reshape, or null.</summary>
    private static string? SourceInput(OnnxGraphIndex g, string value)
    {
        for (var i = 0; i < 16; i++)
        {
            value = g.Resolve(value);
            if (g.Inputs.Contains(value))
                return value;
            if (g.Producer(value) is not { OpType: "Cast" or "Unsqueeze" or "Squeeze" or "Reshape" or "Flatten" } node)
                return null;
            value = node.Input[0];
        }
        return null;
    }

    /// <summary>The decomposed LayerNorm around a Sqrt node, or null when the pattern does not match.</summary>
    private static OnnxLayerNorm? Decomposed(OnnxGraphIndex g, NodeProto sqrt)
    {
        // Sqrt(Add(ReduceMean(Pow(d, 2)), eps))
        if (g.Producer(sqrt.Input[0]) is not { OpType: "Add" } addEps)
            return null;
        var epsIndex = g.Scalar(addEps.Input[1]) is not null ? 1 : g.Scalar(addEps.Input[0]) is not null ? 0 : -1;
        if (epsIndex < 0 || g.Producer(addEps.Input[1 - epsIndex]) is not { OpType: "ReduceMean" } variance)
            return null;
        var eps = g.Scalar(addEps.Input[epsIndex])!.Value;
        if (g.Producer(variance.Input[0]) is not { OpType: "Pow" or "Mul" } square)
            return null;
        var centred = square.Input[0];
        if (g.Producer(centred) is not { OpType: "Sub" } sub || g.Producer(sub.Input[1]) is not { OpType: "ReduceMean" } mean
            || mean.Input[0] != sub.Input[0])
            return null;
        // Div(d, sqrt) → Mul(·, gamma) → Add(·, beta)
        var div = g.Consumers(sqrt.Output[0]).Select(c => c.Node).FirstOrDefault(n => n.OpType == "Div" && n.Input[0] == centred);
        if (div is null || Affine(g, div.Output[0], "Mul") is not { } mul || Affine(g, mul.Node.Output[0], "Add") is not { } add)
            return null;
        return new OnnxLayerNorm(mul.Param, add.Param, Shortest((float)eps), sub.Input[0], add.Node.Output[0], g.Order(sqrt));
    }

    /// <summary>The single consumer of <paramref name="value"/> of the given op with a 1-D float initializer as its other input.</summary>
    private static (string Param, NodeProto Node)? Affine(OnnxGraphIndex g, string value, string op)
    {
        var consumers = g.Consumers(value);
        if (consumers.Count != 1 || consumers[0].Node.OpType != op)
            return null;
        var (node, index) = consumers[0];
        var other = node.Input[1 - index];
        return g.FloatInitializer(other, 1) is null ? null : (g.Resolve(other), node);
    }
}
