namespace Pretrain.Onnx.Export;

/// <summary>Settings of <see cref="OnnxExporter.Export"/> (the flags of <c>pretrain export</c>).</summary>
public sealed record ExportOptions
{
    /// <summary>Lowest and highest opset the emitters support; 17 is the first with LayerNormalization.</summary>
    public const int MinOpset = 17, MaxOpset = 21;

    /// <summary>Default external data threshold: 2 GB (10⁹ bytes), under protobuf's 2 GiB message cap.</summary>
    public const long DefaultExternalDataThreshold = 2_000_000_000;

    /// <summary>ONNX opset of the default domain (<c>--opset</c>).</summary>
    public int Opset { get; init; } = MinOpset;

    /// <summary>Weight storage type (<c>--dtype fp32|fp16</c>).</summary>
    public OnnxDtype Dtype { get; init; } = OnnxDtype.Fp32;

    /// <summary>Adds past_key_values.{i}.key|value inputs and present.{i}.key|value outputs (<c>--with-past</c>).</summary>
    public bool WithPast { get; init; }

    /// <summary>Runs the export in ONNX Runtime against TorchSharp before keeping it (off with <c>--no-validate</c>).</summary>
    public bool Validate { get; init; } = true;

    /// <summary>Initializer bytes above which tensors go to model.onnx_data (<c>--external-data-threshold</c>).</summary>
    public long ExternalDataThreshold { get; init; } = DefaultExternalDataThreshold;

    /// <summary>Replaces an earlier export of ours in the output folder (<c>--overwrite</c>); nothing else is ever replaced.</summary>
    public bool Overwrite { get; init; }

    /// <summary>Allowed max |ORT − TorchSharp| relative to max(1, max |logit|); null means the dtype's default.</summary>
    public double? Tolerance { get; init; }

    /// <summary>Dynamic int8 quantization of the weight matmuls (<c>--quantize int8</c>), checked against the float export.</summary>
    public bool Int8 { get; init; }

    /// <summary>
    /// Emits ONNX Runtime's fused com.microsoft operators where the module structure says they apply (<c>--optimize</c>):
    /// Attention / MultiHeadAttention, SkipLayerNormalization, BiasGelu / FastGelu; checked against the plain export.
    /// </summary>
    public bool Optimize { get; init; }

    /// <summary>How the int8 weights are stored, which picks ONNX Runtime's kernel (<c>--quantize-kernel</c>).</summary>
    public QuantizeKernel Kernel { get; init; } = QuantizeKernel.U8;

    /// <summary>Least top-1 agreement of the int8 export with the float one (<c>--min-agreement</c>, 0–1).</summary>
    public double MinAgreement { get; init; } = 0.99;

    /// <summary>Tokenized labelled rows (<c>--eval-data</c>): the int8 and float accuracy on them go into validation.json.</summary>
    public IReadOnlyList<Validation.QuantizeEvalRow>? EvalRows { get; init; }

    /// <summary>Test hook: called with the int8 model.onnx before it is checked (tests break it on purpose).</summary>
    internal Action<string>? Int8Written { get; init; }

    /// <summary>The tolerance in force: 1e-4 for fp32, 1e-2 for fp16 unless set.</summary>
    public double EffectiveTolerance => Tolerance ?? (Dtype == OnnxDtype.Fp16 ? 1e-2 : 1e-4);

    /// <summary>Throws an <see cref="OnnxExportException"/> naming the bad setting.</summary>
    public void Check()
    {
        if (Opset is < MinOpset or > MaxOpset)
            throw new OnnxExportException($"--opset {Opset} is not supported; use {MinOpset}–{MaxOpset} (17 is the default: "
                + "LayerNormalization needs 17, and Debian's python3-onnx checker goes up to 17).");
        if (ExternalDataThreshold < 0 || ExternalDataThreshold > Graph.OnnxModelWriter.MaxInlineBytes)
            throw new OnnxExportException($"--external-data-threshold {ExternalDataThreshold} must be between 0 and "
                + $"{Graph.OnnxModelWriter.MaxInlineBytes} bytes (a protobuf message cannot exceed 2 GiB).");
        if (Int8 && Dtype != OnnxDtype.Fp32)
            throw new OnnxExportException("--quantize int8 quantizes float32 weights; drop --dtype fp16.");
        if (Int8 && Optimize)
            throw new OnnxExportException("--optimize and --quantize int8 do not combine yet: the int8 pass quantizes plain MatMuls, and the "
                + "fused Attention holds the q/k/v weights itself. Export with one of the two.");
        if (!(MinAgreement is >= 0 and <= 1))
            throw new OnnxExportException($"--min-agreement {MinAgreement} must be between 0 and 1 (0.99 = 99 % top-1 agreement).");
        if (Tolerance is double t && !(t > 0))
            throw new OnnxExportException($"The validation tolerance ({t}) must be positive.");
    }
}
