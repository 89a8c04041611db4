namespace Pretrain.Onnx.Validation;

/// <summary>
/// validation.json's <c>quantization</c> section: how an int8 export was checked against the float export of the same
/// checkpoint (both in ONNX Runtime, same inputs) by the task's own metric, and the size it saves.
/// </summary>
public sealed record QuantizationReport
{
    /// <summary>"int8".</summary>
    public required string Kind { get; init; }

    /// <summary>s8 or u8 weight storage (<see cref="Export.QuantizeKernel"/>).</summary>
    public required string Kernel { get; init; }

    /// <summary>Weight matmuls quantized.</summary>
    public required int QuantizedMatmuls { get; init; }

    /// <summary>
    /// top1_next_token (decoders: argmax over the vocabulary at every position), top1_class (classifiers), or
    /// embedding_cosine_0.99 (encoders without a head: a row agrees when its pooled embedding has cosine ≥ 0.99 to the float one).
    /// </summary>
    public required string Metric { get; init; }

    /// <summary>Positions, rows or embeddings compared.</summary>
    public required int Compared { get; init; }

    /// <summary>Share of them on which int8 and float agree (null when not validated).</summary>
    public double? Agreement { get; init; }

    /// <summary>The export fails below this (<c>--min-agreement</c>).</summary>
    public required double MinAgreement { get; init; }

    /// <summary>Largest |int8 − float| of the compared output, for information.</summary>
    public double? MaxAbsDiff { get; init; }

    /// <summary>model.onnx (+ model.onnx_data) bytes of the float export.</summary>
    public required long FloatBytes { get; init; }

    /// <summary>The same for the int8 export.</summary>
    public required long Int8Bytes { get; init; }

    /// <summary>Accuracy on <c>--eval-data</c>, when given.</summary>
    public EvalAccuracy? EvalData { get; init; }
}

/// <summary>Task accuracy of the float and int8 exports on labelled rows (<c>--eval-data</c>).</summary>
/// <param name="Rows">Rows scored.</param>
/// <param name="Targets">Labels (classifiers) or next tokens (decoders) scored.</param>
/// <param name="FloatAccuracy">Float export's accuracy.</param>
/// <param name="Int8Accuracy">Int8 export's accuracy.</param>
public sealed record EvalAccuracy(int Rows, long Targets, double FloatAccuracy, double Int8Accuracy)
{
    /// <summary>Int8 minus float, in accuracy points (percent).</summary>
    public double DeltaPoints => (Int8Accuracy - FloatAccuracy) * 100;
}
