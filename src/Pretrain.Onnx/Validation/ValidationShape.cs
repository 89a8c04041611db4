namespace Pretrain.Onnx.Validation;

/// <summary>
/// One checked input shape and output: ORT's values against TorchSharp's for <c>sequence</c> new tokens after
/// <c>past_sequence</c> cached ones (decoders), <c>sequence</c> tokens of which <c>padding</c> are masked (encoders,
/// compared on real tokens), or <c>batch</c> images (ViT, sequence 0). <c>max_abs_logit</c> is the largest reference value.
/// </summary>
public sealed record ValidationShape(int Batch, int Sequence, int PastSequence, double MaxAbsDiff, double MaxAbsLogit, bool Passed,
    string Output = "logits", int Padding = 0);
