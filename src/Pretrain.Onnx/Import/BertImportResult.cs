using Pretrain.Models.Text;

namespace Pretrain.Onnx.Import;

/// <summary>
/// An encoder rebuilt from a BERT-family ONNX file: the model (eval mode, CPU; the caller disposes it), its
/// configuration, how each hyper-parameter was found, the float initializers that were left out (heads beyond the
/// hidden-state output), and the graph's input and hidden-state output names.
/// </summary>
public sealed record BertImportResult(
    EncoderLm Model,
    EncoderLmConfig Config,
    IReadOnlyList<string> Inferred,
    IReadOnlyList<string> Unused,
    IReadOnlyList<string> InputNames,
    string OutputName);
