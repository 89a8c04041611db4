using Pretrain.Onnx.Proto;

namespace Pretrain.Onnx.Import;

/// <summary>
/// A LayerNorm found in the graph: a LayerNormalization node, or the decomposed form
/// ReduceMean → Sub → Pow(2) → ReduceMean → Add(eps) → Sqrt → Div → Mul(gamma) → Add(beta).
/// </summary>
internal sealed record OnnxLayerNorm(string Scale, string Bias, double Epsilon, string Input, string Output, int Order);

/// <summary>
/// A Linear layer found in the graph: MatMul(x, W) (+ Add(b)) or Gemm. <paramref name="InOut"/> says the weight
/// initializer is stored [in, out] (MatMul, Gemm without transB) and must be transposed to nn.Linear's [out, in].
/// </summary>
internal sealed record OnnxLinear(string Weight, bool InOut, string? Bias, string Input, string Output, NodeProto Node, int Order)
{
    /// <summary>Output features.</summary>
    public long OutFeatures(OnnxGraphIndex g) => g.Initializer(Weight)!.Dims[InOut ? 1 : 0];

    /// <summary>Input features.</summary>
    public long InFeatures(OnnxGraphIndex g) => g.Initializer(Weight)!.Dims[InOut ? 0 : 1];
}

/// <summary>An embedding lookup: Gather(table, indices) on a 2-D float initializer; <paramref name="Source"/> is the graph input feeding the indices, if any.</summary>
internal sealed record OnnxEmbedding(string Table, string? Source, string Output, int Order);
