namespace Pretrain.Onnx.Validation;

/// <summary>One checked input shape: ORT's logits against TorchSharp's for <c>sequence</c> new tokens after <c>past_sequence</c> cached ones.</summary>
public sealed record ValidationShape(int Batch, int Sequence, int PastSequence, double MaxAbsDiff, double MaxAbsLogit, bool Passed);
