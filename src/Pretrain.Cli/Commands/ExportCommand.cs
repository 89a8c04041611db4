using System.Globalization;
using Pretrain.Onnx.Export;
using Pretrain.Training.Checkpointing;

namespace Pretrain.Cli.Commands;

/// <summary>
/// `pretrain export CHECKPOINT --out DIR [--overwrite]`: ONNX export folder, checked against ONNX Runtime unless
/// --no-validate. DIR must be new, empty, or (with --overwrite) an earlier export of ours (<see cref="Pretrain.Core.OutputFolder"/>).
/// </summary>
public static class ExportCommand
{
    public static int Execute(ArgList args, TextWriter stdout)
    {
        if (args.Positionals.Count != 1) throw new UsageException("pretrain export needs exactly one CHECKPOINT (a run folder or a step folder).");
        var outDir = args.Option("--out") ?? throw new UsageException("pretrain export needs --out DIR.");
        var dtype = args.Option("--dtype") ?? "fp32";
        var threshold = args.Option("--external-data-threshold");
        var options = new ExportOptions
        {
            Opset = args.Int("--opset", ExportOptions.MinOpset),
            Dtype = dtype switch
            {
                "fp32" => OnnxDtype.Fp32,
                "fp16" => OnnxDtype.Fp16,
                _ => throw new UsageException($"--dtype must be fp32 or fp16, got '{dtype}'."),
            },
            WithPast = args.Flag("--with-past"),
            Optimize = args.Flag("--optimize"),
            Int8 = (args.Option("--quantize") ?? "none") switch
            {
                "none" => false,
                "int8" => true,
                var other => throw new UsageException($"--quantize must be int8 (or none), got '{other}'."),
            },
            Kernel = (args.Option("--quantize-kernel") ?? "u8") switch
            {
                "s8" => QuantizeKernel.S8,
                "u8" => QuantizeKernel.U8,
                var k => throw new UsageException($"--quantize-kernel must be s8 or u8, got '{k}'."),
            },
            MinAgreement = args.Double("--min-agreement", 0.99),
            Validate = !args.Flag("--no-validate"),
            Overwrite = args.Flag("--overwrite"),
            ExternalDataThreshold = threshold is null ? ExportOptions.DefaultExternalDataThreshold
                : long.TryParse(threshold, NumberStyles.None, CultureInfo.InvariantCulture, out var bytes) ? bytes
                : throw new UsageException($"--external-data-threshold must be a number of bytes, got '{threshold}'."),
        };
        var evalData = args.Option("--eval-data");
        var textColumn = args.Option("--text-column") ?? "text";
        var labelColumn = args.Option("--label-column") ?? "label";
        var imageColumn = args.Option("--image-column") ?? "image";
        var evalRows = args.Int("--eval-rows", 1000);
        args.RejectUnknown();
        if (evalData is not null && !options.Int8)
            throw new UsageException("--eval-data scores an int8 export against the float one; add --quantize int8.");

        var checkpoint = CheckpointLocator.Resolve(args.Positionals[0]);
        foreach (var warning in checkpoint.Warnings)
            stdout.WriteLine($"warning: {warning}");
        if (evalData is not null)
            options = options with { EvalRows = ExportEvalData.Read(checkpoint.Directory, evalData, textColumn, labelColumn, evalRows, imageColumn) };
        SignalScope.Hold("export");   // test hook: a signal landing in the export phase (SignalScope)
        var result = OnnxExporter.Export(checkpoint.Directory, outDir, options);
        foreach (var warning in result.Warnings)
            stdout.WriteLine($"warning: {warning}");
        var report = result.Report;
        if (report.Validated)
        {
            var worst = report.Shapes.Max(s => s.MaxAbsDiff);
            stdout.WriteLine($"validated with ONNX Runtime {report.OrtVersion}: {report.Shapes.Count} shapes, max |diff| {worst:G3} (tolerance {report.Tolerance:G3})");
        }
        if (report.Quantization is { } q)
        {
            stdout.WriteLine($"int8 ({q.Kernel}, {q.QuantizedMatmuls} matmuls): {q.Int8Bytes / 1e6:F2} MB vs {q.FloatBytes / 1e6:F2} MB float"
                + (q.Agreement is double a ? $"; {q.Metric} agreement with the float export {a:P2} of {q.Compared} (minimum {q.MinAgreement:P0})" : "")
                + (q.EvalData is { } e ? $"; --eval-data accuracy {e.FloatAccuracy:P2} float, {e.Int8Accuracy:P2} int8 ({e.DeltaPoints:+0.00;-0.00} points, {e.Targets} targets)" : ""));
        }
        if (report.Optimization is { } o)
        {
            stdout.WriteLine($"fused (--optimize): {string.Join(", ", o.FusedOps.Select(kv => $"{kv.Value} {kv.Key}"))}"
                + (o.AgainstPlain.Count > 0 ? $"; max |fused − plain| in ONNX Runtime {o.MaxAbsDiff:G3} over {o.AgainstPlain.Count} shapes" : "")
                + string.Concat(o.Notes.Select(n => $"; {n}")));
        }
        stdout.WriteLine($"exported {checkpoint.Directory} → {result.Directory} (opset {report.Opset}, {report.Dtype}{(report.WithPast ? ", with past" : "")}{(report.ExternalData ? ", external data" : "")})");
        return 0;
    }
}
