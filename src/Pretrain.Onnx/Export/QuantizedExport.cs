using Pretrain.Onnx.Graph;
using Pretrain.Onnx.Proto;
using Pretrain.Onnx.Validation;

namespace Pretrain.Onnx.Export;

/// <summary>
/// The int8 half of <c>pretrain export … --quantize int8</c>: with the float export already written (and checked
/// against TorchSharp) in a scratch folder, writes the quantized graph (<see cref="QuantizeInt8"/>) as the export's
/// model.onnx, compares the two in ONNX Runtime by the task metric (<see cref="QuantizationCheck"/>), refuses the
/// export below <see cref="ExportOptions.MinAgreement"/>, and removes the scratch folder.
/// </summary>
internal static class QuantizedExport
{
    public static (QuantizationReport Report, bool External) Write(ExportModel model, string floatDir, string outTemp,
        ExportOptions options, string checkpoint, string outDir)
    {
        var external = OnnxExporter.WriteModel(model, outTemp, options);
        var int8Path = Path.Combine(outTemp, "model.onnx");
        var floatPath = Path.Combine(floatDir, "model.onnx");
        options.Int8Written?.Invoke(int8Path);
        var report = new QuantizationReport
        {
            Kind = "int8",
            Kernel = options.Kernel.ToString().ToLowerInvariant(),
            QuantizedMatmuls = CountMatMulInteger(int8Path),
            Metric = "",
            Compared = 0,
            MinAgreement = options.MinAgreement,
            FloatBytes = Bytes(floatPath),
            Int8Bytes = Bytes(int8Path),
        };
        if (options.Validate)
        {
            var (metric, compared, agreement, maxDiff, eval) = QuantizationCheck.Run(floatPath, int8Path, model, options.EvalRows);
            report = report with { Metric = metric, Compared = compared, Agreement = agreement, MaxAbsDiff = maxDiff, EvalData = eval };
            if (agreement < options.MinAgreement)
                throw new OnnxExportException($"The int8 export of {checkpoint} agrees with the float export on {agreement:P2} of {compared} "
                    + $"({metric}), below --min-agreement {options.MinAgreement:G4}; nothing was written to {outDir}. "
                    + (options.Kernel == QuantizeKernel.S8 ? "Use --quantize-kernel u8 (s8 saturates on CPUs without VNNI), export" : "Export") + " it in float, or lower --min-agreement.");
        }
        Directory.Delete(floatDir, recursive: true);
        return (report, external);
    }

    /// <summary>model.onnx plus model.onnx_data, bytes.</summary>
    internal static long Bytes(string modelPath)
    {
        var data = Path.Combine(Path.GetDirectoryName(modelPath)!, OnnxModelWriter.DataFileName);
        return new FileInfo(modelPath).Length + (File.Exists(data) ? new FileInfo(data).Length : 0);
    }

    private static int CountMatMulInteger(string path)
    {
        using var file = File.OpenRead(path);
        return ModelProto.Parser.ParseFrom(file).Graph.Node.Count(n => n.OpType == "MatMulInteger");
    }
}
