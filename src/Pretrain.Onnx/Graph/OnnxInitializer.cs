using static Pretrain.Onnx.Proto.TensorProto.Types;

namespace Pretrain.Onnx.Graph;

/// <summary>One initializer's name, element type, shape and raw little-endian row-major bytes.</summary>
internal sealed record OnnxInitializer(string Name, DataType Type, long[] Dims, byte[] Data);
