using Pretrain.Models.Heads;
using Pretrain.Models.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Training.Tasks;

/// <summary>
/// BERT-style sequence classification: encoder → pooling (cls: the first token's hidden state; mean: masked mean,
/// as sentence-transformers) → <see cref="ClassifierHead"/>. Parameter names are <c>encoder.*</c> and
/// <c>classifier.*</c>, so LoRA freezing globs (<c>classifier.*</c>) and checkpoints see one tree.
/// </summary>
public sealed class SequenceClassifier : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly EncoderLm encoder;
    private readonly ClassifierHead classifier;

    /// <param name="encoder">The backbone (owned).</param>
    /// <param name="classifier">The head (owned).</param>
    /// <param name="pooling">cls or mean.</param>
    public SequenceClassifier(EncoderLm encoder, ClassifierHead classifier, string pooling) : base(nameof(SequenceClassifier))
    {
        if (pooling is not ("cls" or "mean"))
            throw new ArgumentException($"Pooling must be cls or mean, got '{pooling}'.", nameof(pooling));
        this.encoder = encoder;
        this.classifier = classifier;
        Pooling = pooling;
        RegisterComponents();
    }

    /// <summary>The backbone.</summary>
    public EncoderLm Encoder => encoder;

    /// <summary>The classification head.</summary>
    public ClassifierHead Head => classifier;

    /// <summary>cls or mean.</summary>
    public string Pooling { get; }

    /// <summary>Logits (B, classes) for input ids (B, T) and attention mask (B, T; 1 real, 0 padding).</summary>
    public override Tensor forward(Tensor inputIds, Tensor attentionMask) => forward(inputIds, attentionMask, null);

    /// <summary>As <see cref="forward(Tensor, Tensor)"/>, recording the encoder's layers into <paramref name="capture"/> when given.</summary>
    public Tensor forward(Tensor inputIds, Tensor attentionMask, Pretrain.Models.Modules.LayerCapture? capture)
    {
        var hidden = capture is null ? encoder.call(inputIds, attentionMask, null) : encoder.forward(inputIds, attentionMask, null, capture);   // (B, T, C)
        var pooled = Pooling == "mean" ? EncoderLm.MeanPool(hidden, attentionMask) : hidden[.., 0]; // (B, C)
        return classifier.call(pooled);
    }
}
