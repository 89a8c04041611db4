using System.Globalization;
using Pretrain.Core;
using Pretrain.Models.Heads;
using Pretrain.Models.Text;
using Pretrain.Models.Vision;
using Pretrain.Onnx.Graph;
using Pretrain.Onnx.Runtime;
using Pretrain.Onnx.Validation;

namespace Pretrain.Onnx.Export;

/// <summary>
/// Exports a checkpoint step folder to DESIGN.md's ONNX export folder: model.onnx (+ model.onnx_data), config.json,
/// tokenizer/ and validation.json, for decoders, encoders (with a classifier head when the checkpoint has one) and
/// ViTs, by config.json's model_type (<see cref="CheckpointLoader"/>; LoRA adapters merged first), plus manifest.json (the
/// files we wrote). Everything is written into a temporary sibling folder and put into place only after ONNX Runtime
/// has matched TorchSharp, so a failed export leaves nothing behind.
/// </summary>
public static class OnnxExporter
{
    /// <summary>
    /// Exports <paramref name="checkpoint"/> (a step folder) into <paramref name="outDir"/>, which must be new, empty, or
    /// an earlier export of ours with <see cref="ExportOptions.Overwrite"/> (<see cref="OutputFolder"/>); it is written
    /// under the output's lock, and a failure leaves the folder as it was.
    /// </summary>
    public static ExportResult Export(string checkpoint, string outDir, ExportOptions options)
    {
        options.Check();
        using var output = Begin(outDir, options.Overwrite);
        using var model = CheckpointLoader.Load(checkpoint);
        if (model.Decoder is null && options.WithPast)
            throw new OnnxExportException($"--with-past is for decoders; {checkpoint} is a {model.ModelType} {model.Family}. Export it without --with-past.");
        var warnings = new List<string>(model.Notes);

        var tmp = output.Temp;
        // An int8 export is checked against the float export, written first into a scratch folder.
        var floatDir = options.Int8 ? Directory.CreateDirectory(Path.Combine(tmp, ".float")).FullName : tmp;
        // A fused export is checked against the plain one, written first into a scratch folder.
        var plainDir = options.Optimize ? Directory.CreateDirectory(Path.Combine(tmp, ".plain")).FullName : null;
        if (plainDir is not null)
            WriteModel(model, plainDir, options with { Optimize = false });
        var external = WriteModel(model, floatDir, options with { Int8 = false });
        File.Copy(Path.Combine(checkpoint, "config.json"), Path.Combine(tmp, "config.json"));
        var tokenizer = Path.Combine(checkpoint, "tokenizer");
        if (Directory.Exists(tokenizer))
            CopyFolder(tokenizer, Path.Combine(tmp, "tokenizer"));
        else
            warnings.Add($"{checkpoint} has no tokenizer/ folder; the export has none, and `pretrain generate` will need one.");

        var tolerance = options.EffectiveTolerance;
        var shapes = options.Validate ? Validate(Path.Combine(floatDir, "model.onnx"), model, tolerance) : [];
        var report = new ValidationReport
        {
            Opset = options.Opset,
            OrtVersion = options.Validate ? OnnxDecoderSession.RuntimeVersion : "",
            Dtype = options.Dtype.ToString().ToLowerInvariant(),
            WithPast = options.WithPast,
            ExternalData = external,
            Tolerance = tolerance,
            Validated = options.Validate,
            Shapes = shapes,
        };
        if (options.Validate && !report.Passed)
            throw Mismatch(checkpoint, outDir, tolerance, shapes);
        if (plainDir is not null)
        {
            var fusedPath = Path.Combine(tmp, "model.onnx");
            var againstPlain = options.Validate ? FusedCheck.Run(Path.Combine(plainDir, "model.onnx"), fusedPath, model, tolerance) : [];
            report = report with
            {
                Optimization = new FusionReport { FusedOps = FusedCheck.FusedOps(fusedPath), Notes = FusionNotes(model), AgainstPlain = againstPlain },
            };
            if (options.Validate && !report.Passed)
                throw new OnnxExportException($"The fused (--optimize) export of {checkpoint} does not match the plain export within {tolerance:G3} in ONNX Runtime ("
                    + string.Join("; ", againstPlain.Where(s => !s.Passed).Select(s => $"{s.Output} at batch {s.Batch} sequence {s.Sequence} past {s.PastSequence}: max |diff| {s.MaxAbsDiff:G3}"))
                    + $"); nothing was written to {outDir}. Report this as a bug, and export without --optimize.");
            Directory.Delete(plainDir, recursive: true);
        }
        if (options.Int8)
        {
            var (quantization, int8External) = QuantizedExport.Write(model, floatDir, tmp, options, checkpoint, outDir);
            report = report with { Quantization = quantization, ExternalData = int8External };
        }
        report.Save(Path.Combine(tmp, "validation.json"));
        return new ExportResult(output.Commit(), report, warnings);
    }

    /// <summary>What --optimize leaves unfused for this model, and why.</summary>
    private static List<string> FusionNotes(ExportModel model)
    {
        var notes = new List<string>();
        if (model.Decoder is { } d && !DecoderBlockEmitter.FusesAttention(d.Config))
            notes.Add("attention unfused: com.microsoft MultiHeadAttention needs as many key/value heads as query heads and no RoPE/q-k norm "
                + "to keep past_key_values/present as they are; GroupQueryAttention would change the cache inputs (seqlens_k, total_sequence_length)");
        if (model.Decoder is { } l && l.Config.IsLlama)
            notes.Add("SwiGLU MLP and the first RMSNorm unfused (no com.microsoft operator for them on CPU in the standard domain)");
        return notes;
    }

    private static OnnxExportException Mismatch(string checkpoint, string outDir, double tolerance, IReadOnlyList<ValidationShape> shapes)
    {
        var worst = shapes.Where(s => !s.Passed).Select(s =>
                $"{s.Output} at batch {s.Batch} sequence {s.Sequence} past {s.PastSequence}: max |diff| {s.MaxAbsDiff:G3} (values up to {s.MaxAbsLogit:G3})");
            return new OnnxExportException($"The ONNX export of {checkpoint} does not match TorchSharp within {tolerance:G3} "
                + $"({string.Join("; ", worst)}); nothing was written to {outDir}. Report this as a bug, or pass --no-validate to keep it anyway.");
    }

    /// <summary>The --out rule, with its refusals as export errors.</summary>
    private static OutputFolder Begin(string outDir, bool overwrite)
    {
        try
        {
            return OutputFolder.Begin(outDir, OutputManifest.OnnxExport, overwrite);
        }
        catch (OutputFolderException e)
        {
            throw new OnnxExportException(e.Message);
        }
    }

    /// <summary>Emits and writes the graph of any family; returns whether the weights went to model.onnx_data.</summary>
    internal static bool WriteModel(ExportModel model, string directory, ExportOptions options) =>
        model.Decoder is not null ? WriteModel(model.Decoder, directory, options)
        : model.Encoder is not null ? WriteEncoder(model.Encoder, directory, options, model.Classifier)
        : WriteVit(model.Vit!, directory, options, model.Classifier);

    private static IReadOnlyList<ValidationShape> Validate(string path, ExportModel model, double tolerance) =>
        model.Decoder is not null ? OnnxValidator.Check(path, model.Decoder, tolerance)
        : model.Encoder is not null ? EncoderValidator.Check(path, model.Encoder, model.Classifier, tolerance)
        : EncoderValidator.Check(path, model.Vit!, model.Classifier, tolerance);

    /// <summary>Emits and writes the graph; returns whether the weights went to model.onnx_data.</summary>
    internal static bool WriteModel(DecoderLm model, string directory, ExportOptions options)
    {
        var c = model.Config;
        var graph = DecoderLmEmitter.Emit(model, options.Opset, options.Dtype, options.WithPast, options.Optimize);
        var quantized = options.Int8 ? QuantizeInt8.Apply(graph, options.Kernel) : 0;
        var metadata = new Dictionary<string, string>
        {
            ["pretrain.arch"] = c.Arch,
            ["pretrain.dtype"] = options.Dtype.ToString().ToLowerInvariant(),
            ["pretrain.with_past"] = options.WithPast ? "true" : "false",
            ["pretrain.max_seq_len"] = c.MaxSeqLen.ToString(CultureInfo.InvariantCulture),
        };
        if (options.Optimize)
            metadata["pretrain.optimize"] = "com.microsoft fused operators";
        if (options.Int8)
            metadata["pretrain.quantize"] = $"int8-{options.Kernel.ToString().ToLowerInvariant()} ({quantized} matmuls)";
        return OnnxModelWriter.Write(graph, directory, options.ExternalDataThreshold, metadata);
    }

    /// <summary>Emits and writes an encoder's graph; returns whether the weights went to model.onnx_data.</summary>
    internal static bool WriteEncoder(EncoderLm model, string directory, ExportOptions options, ClassifierHead? classifier = null)
    {
        var c = model.Config;
        var graph = EncoderLmEmitter.Emit(model, options.Opset, options.Dtype, classifier, options.Optimize);
        var quantized = options.Int8 ? QuantizeInt8.Apply(graph, options.Kernel) : 0;
        var metadata = new Dictionary<string, string>
        {
            ["pretrain.arch"] = c.PostNorm ? "bert" : "bert-preln",
            ["pretrain.dtype"] = options.Dtype.ToString().ToLowerInvariant(),
            ["pretrain.max_seq_len"] = c.MaxSeqLen.ToString(CultureInfo.InvariantCulture),
        };
        if (options.Optimize)
            metadata["pretrain.optimize"] = "com.microsoft fused operators";
        if (options.Int8)
            metadata["pretrain.quantize"] = $"int8-{options.Kernel.ToString().ToLowerInvariant()} ({quantized} matmuls)";
        return OnnxModelWriter.Write(graph, directory, options.ExternalDataThreshold, metadata);
    }

    /// <summary>Emits and writes a ViT's graph; returns whether the weights went to model.onnx_data.</summary>
    internal static bool WriteVit(VisionTransformer model, string directory, ExportOptions options, ClassifierHead? classifier = null)
    {
        var c = model.Config;
        var graph = VitEmitter.Emit(model, options.Opset, options.Dtype, classifier, options.Optimize);
        var quantized = options.Int8 ? QuantizeInt8.Apply(graph, options.Kernel) : 0;
        var metadata = new Dictionary<string, string>
        {
            ["pretrain.arch"] = "vit",
            ["pretrain.dtype"] = options.Dtype.ToString().ToLowerInvariant(),
            ["pretrain.image_size"] = c.ImageSize.ToString(CultureInfo.InvariantCulture),
            ["pretrain.global_pool"] = c.GlobalPool,
        };
        if (options.Optimize)
            metadata["pretrain.optimize"] = "com.microsoft fused operators";
        if (options.Int8)
            metadata["pretrain.quantize"] = $"int8-{options.Kernel.ToString().ToLowerInvariant()} ({quantized} matmuls)";
        return OnnxModelWriter.Write(graph, directory, options.ExternalDataThreshold, metadata);
    }

    private static void CopyFolder(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from))
            File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        foreach (var dir in Directory.GetDirectories(from))
            CopyFolder(dir, Path.Combine(to, Path.GetFileName(dir)));
    }
}
