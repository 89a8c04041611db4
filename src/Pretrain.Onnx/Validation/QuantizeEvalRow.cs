namespace Pretrain.Onnx.Validation;

/// <summary>
/// One row of <c>--eval-data</c>: a text classifier's input ids ([CLS] … [SEP]) and its label, (label −1) a decoder's
/// token block scored on next-token accuracy, or (<see cref="Pixels"/>, ids empty) an image classifier's transformed
/// image (channels × height × width, the checkpoint's normalisation applied) and its label.
/// </summary>
public sealed record QuantizeEvalRow(long[] Ids, int Label)
{
    /// <summary>An image row's pixel values (C·H·W); null for text rows.</summary>
    public float[]? Pixels { get; init; }
}
