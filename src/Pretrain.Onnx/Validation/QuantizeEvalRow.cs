namespace Pretrain.Onnx.Validation;

/// <summary>
/// One tokenized row of <c>--eval-data</c>: a classifier's input ids ([CLS] … [SEP]) and its label, or (label −1) a
/// decoder's token block scored on next-token accuracy.
/// </summary>
public sealed record QuantizeEvalRow(long[] Ids, int Label);
