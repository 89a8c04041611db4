using System.Globalization;
using Pretrain.Onnx.Export;
using Pretrain.Training.Checkpointing;

namespace Pretrain.Cli.Commands;

/// <summary>`pretrain export CHECKPOINT --out DIR`: ONNX export folder, checked against ONNX Runtime unless --no-validate.</summary>
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
            Validate = !args.Flag("--no-validate"),
            ExternalDataThreshold = threshold is null ? ExportOptions.DefaultExternalDataThreshold
                : long.TryParse(threshold, NumberStyles.None, CultureInfo.InvariantCulture, out var bytes) ? bytes
                : throw new UsageException($"--external-data-threshold must be a number of bytes, got '{threshold}'."),
        };
        args.RejectUnknown();

        var checkpoint = CheckpointLocator.Resolve(args.Positionals[0]);
        foreach (var warning in checkpoint.Warnings)
            stdout.WriteLine($"warning: {warning}");
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
        stdout.WriteLine($"exported {checkpoint.Directory} → {result.Directory} (opset {report.Opset}, {report.Dtype}{(report.WithPast ? ", with past" : "")}{(report.ExternalData ? ", external data" : "")})");
        return 0;
    }
}
