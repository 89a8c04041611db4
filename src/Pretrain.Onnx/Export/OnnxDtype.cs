namespace Pretrain.Onnx.Export;

/// <summary>How exported weights are stored. Compute is float32 either way (ONNX Runtime's CPU provider lacks many fp16 kernels).</summary>
public enum OnnxDtype
{
    /// <summary>float32 weights (the default).</summary>
    Fp32,

    /// <summary>float16 weight storage (half the file), each weight Cast to float32 in the graph.</summary>
    Fp16,
}
