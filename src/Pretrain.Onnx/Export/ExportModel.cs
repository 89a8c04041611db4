using Pretrain.Models.Heads;
using Pretrain.Models.Text;
using Pretrain.Models.Vision;
using TorchSharp;

namespace Pretrain.Onnx.Export;

/// <summary>
/// A checkpoint's model as <see cref="CheckpointLoader"/> read it, in eval mode on the CPU with any LoRA adapters
/// merged: exactly one of <see cref="Decoder"/>, <see cref="Encoder"/> or <see cref="Vit"/>, and a classifier head
/// when the checkpoint has <c>classifier.*</c> tensors. Owns the modules.
/// </summary>
public sealed class ExportModel : IDisposable
{
    /// <summary>A decoder (gpt2, llama).</summary>
    public DecoderLm? Decoder { get; init; }

    /// <summary>A BERT-family encoder (bert, pretrain-bert, pretrain-bert-preln).</summary>
    public EncoderLm? Encoder { get; init; }

    /// <summary>A Vision Transformer (vit, pretrain-vit, pretrain-mae's encoder).</summary>
    public VisionTransformer? Vit { get; init; }

    /// <summary>The sequence/image classification head, or null.</summary>
    public ClassifierHead? Classifier { get; init; }

    /// <summary>config.json's model_type.</summary>
    public required string ModelType { get; init; }

    /// <summary>Whether LoRA adapters were merged into the base weights.</summary>
    public bool LoraMerged { get; init; }

    /// <summary>Things left out of the export (MLM head, MAE decoder…), for the user.</summary>
    public List<string> Notes { get; } = [];

    /// <summary>The model family: "decoder", "encoder" or "vit".</summary>
    public string Family => Decoder is not null ? "decoder" : Encoder is not null ? "encoder" : "vit";

    /// <summary>Every module, for moves and disposal.</summary>
    public IEnumerable<torch.nn.Module> Modules =>
        new torch.nn.Module?[] { Decoder, Encoder, Vit, Classifier }.Where(m => m is not null).Select(m => m!);

    public void Dispose()
    {
        foreach (var m in Modules)
            m.Dispose();
    }
}
