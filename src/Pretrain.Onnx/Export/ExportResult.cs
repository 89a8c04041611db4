using Pretrain.Onnx.Validation;

namespace Pretrain.Onnx.Export;

/// <summary>What <see cref="OnnxExporter.Export"/> wrote: the folder, its validation report, and notes for the user.</summary>
public sealed record ExportResult(string Directory, ValidationReport Report, IReadOnlyList<string> Warnings);
