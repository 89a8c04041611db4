using Pretrain.Models.Text;

namespace Pretrain.Onnx.Import;

/// <summary>
/// What the analysis of a BERT-family graph found: the encoder configuration, each Hugging Face BERT tensor name
/// with the initializer that holds it (and whether it is stored [in, out] and must be transposed), how each
/// hyper-parameter was inferred, and the float initializers left out.
/// </summary>
internal sealed record BertOnnxLayout(
    EncoderLmConfig Config,
    IReadOnlyDictionary<string, (string Initializer, bool Transpose)> Tensors,
    IReadOnlyList<string> Inferred,
    IReadOnlyList<string> Unused,
    string OutputName);
