using System.Runtime.InteropServices;
using Pretrain.Onnx.Graph;
using Pretrain.Onnx.Proto;
using static Pretrain.Onnx.Proto.TensorProto.Types;

namespace Pretrain.Onnx.Export;

/// <summary>
/// Dynamic int8 quantization of an emitted float graph: every <c>MatMul</c> whose right operand is a Linear weight
/// initializer (<c>*.weight.T</c>, (in, out) float32) becomes
/// <c>DynamicQuantizeLinear(x) → MatMulInteger(x_q, W_q, x_zero) → Cast → Mul(x_scale · w_scale)</c>, the pattern
/// ONNX Runtime fuses into one DynamicQuantizeMatMul. Weights: per output channel, symmetric,
/// scale = max |w| / 127, q = round-half-even(w / scale). Embedding tables (Gather, the tied head's Transpose), norms,
/// biases, convolutions and activation-by-activation matmuls (attention) stay float32. Linear layers reading the same
/// activation share one DynamicQuantizeLinear.
/// </summary>
internal static class QuantizeInt8
{
    /// <summary>Rewrites <paramref name="g"/> in place; returns how many matmuls were quantized.</summary>
    public static int Apply(OnnxGraphBuilder g, QuantizeKernel kernel)
    {
        var inits = g.Initializers.ToDictionary(i => i.Name, StringComparer.Ordinal);
        var uses = g.Graph.Node.SelectMany(n => n.Input).Concat(g.Graph.Output.Select(o => o.Name))
            .GroupBy(n => n, StringComparer.Ordinal).ToDictionary(x => x.Key, x => x.Count(), StringComparer.Ordinal);
        var quantizedActivations = new Dictionary<string, (string Q, string Scale, string Zero)>(StringComparer.Ordinal);
        var quantizedWeights = new Dictionary<string, (string Q, string Scale, string? Zero)>(StringComparer.Ordinal);
        var nodes = new List<NodeProto>(g.Graph.Node.Count);
        var count = 0;
        foreach (var node in g.Graph.Node)
        {
            if (node.OpType != "MatMul" || node.Domain.Length > 0 || !IsLinearWeight(inits, node.Input[1]))
            {
                nodes.Add(node);
                continue;
            }
            var x = node.Input[0];
            if (!quantizedActivations.TryGetValue(x, out var xq))
            {
                var outs = new[] { x + "_quantized", x + "_scale", x + "_zero_point" };
                nodes.Add(Node("DynamicQuantizeLinear", [x], outs));
                quantizedActivations[x] = xq = (outs[0], outs[1], outs[2]);
            }
            var weight = node.Input[1];
            if (!quantizedWeights.TryGetValue(weight, out var wq))
                quantizedWeights[weight] = wq = AddWeight(g, inits[weight], kernel);
            var y = node.Output[0];
            string[] mmInputs = wq.Zero is null ? [xq.Q, wq.Q, xq.Zero] : [xq.Q, wq.Q, xq.Zero, wq.Zero];
            nodes.Add(Node("MatMulInteger", mmInputs, [y + "_int32"]));
            nodes.Add(Node("Cast", [y + "_int32"], [y + "_int32_float"], ("to", (long)DataType.Float)));
            nodes.Add(Node("Mul", [xq.Scale, wq.Scale], [y + "_scale"]));
            nodes.Add(Node("Mul", [y + "_int32_float", y + "_scale"], [y]));
            uses[weight]--;
            count++;
        }
        g.Graph.Node.Clear();
        g.Graph.Node.AddRange(nodes);
        // The float weights nothing reads any more are dropped from the file.
        g.Initializers.RemoveAll(i => quantizedWeights.ContainsKey(i.Name) && uses.GetValueOrDefault(i.Name) == 0);
        return count;
    }

    /// <summary>A Linear weight stored (in, out) for MatMul: named *.weight.T, float32, 2-D.</summary>
    private static bool IsLinearWeight(Dictionary<string, OnnxInitializer> inits, string name) =>
        name.EndsWith(".weight.T", StringComparison.Ordinal) && inits.TryGetValue(name, out var i) && i.Type == DataType.Float && i.Dims.Length == 2;

    /// <summary>Per-column (output channel) symmetric int8 of a (K, N) weight: (q initializer, scale initializer, zero point or null).</summary>
    private static (string Q, string Scale, string? Zero) AddWeight(OnnxGraphBuilder g, OnnxInitializer w, QuantizeKernel kernel)
    {
        int k = (int)w.Dims[0], n = (int)w.Dims[1];
        var values = MemoryMarshal.Cast<byte, float>(w.Data);
        var (q, scales) = QuantizePerColumn(values, k, n);
        var bytes = new byte[q.Length];
        for (var i = 0; i < q.Length; i++)
            bytes[i] = kernel == QuantizeKernel.U8 ? (byte)(q[i] + 128) : unchecked((byte)q[i]);
        var baseName = w.Name[..^2];   // without ".T"
        var qName = g.Initializer(baseName + "_quantized", kernel == QuantizeKernel.U8 ? DataType.Uint8 : DataType.Int8, [k, n], bytes);
        var scaleBytes = new byte[n * 4];
        Buffer.BlockCopy(scales, 0, scaleBytes, 0, scaleBytes.Length);
        var scaleName = g.Initializer(baseName + "_scale", DataType.Float, [n], scaleBytes);
        string? zero = null;
        if (kernel == QuantizeKernel.U8)
            zero = g.Initializer(baseName + "_zero_point", DataType.Uint8, [n], Enumerable.Repeat((byte)128, n).ToArray());
        return (qName, scaleName, zero);
    }

    /// <summary>
    /// Row-major (K, N) floats → int8 values and one scale per column: scale = max |w| / 127 (1 for an all-zero
    /// column), q = clamp(round-half-even(w / scale), −127, 127).
    /// </summary>
    public static (sbyte[] Values, float[] Scales) QuantizePerColumn(ReadOnlySpan<float> w, int k, int n)
    {
        var scales = new float[n];
        for (var r = 0; r < k; r++)
        {
            for (var c = 0; c < n; c++)
                scales[c] = Math.Max(scales[c], Math.Abs(w[r * n + c]));
        }
        for (var c = 0; c < n; c++)
            scales[c] = scales[c] > 0 ? scales[c] / 127f : 1f;
        var q = new sbyte[k * n];
        for (var r = 0; r < k; r++)
        {
            for (var c = 0; c < n; c++)
                q[r * n + c] = (sbyte)Math.Clamp(MathF.Round(w[r * n + c] / scales[c], MidpointRounding.ToEven), -127f, 127f);
        }
        return (q, scales);
    }

    private static NodeProto Node(string op, string[] inputs, string[] outputs, params (string Name, long Value)[] attributes)
    {
        var node = new NodeProto { OpType = op, Name = outputs[0] + "_node" };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        foreach (var (name, value) in attributes)
            node.Attribute.Add(new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value });
        return node;
    }
}
