using Pretrain.Models.Heads;
using Pretrain.Models.Vision;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Training.Tasks;

/// <summary>
/// Image classification (ViTForImageClassification's shape): <see cref="VisionTransformer"/> → its own pooling
/// (model.global_pool: the class token, or the mean of the patch tokens as MAE fine-tunes) →
/// <see cref="ClassifierHead"/>. Parameter names are <c>encoder.*</c> and <c>classifier.*</c>, as
/// <see cref="SequenceClassifier"/>'s, so LoRA freezing globs and checkpoints see one tree.
/// </summary>
public sealed class ImageClassifier : nn.Module<Tensor, Tensor>
{
    private readonly VisionTransformer encoder;
    private readonly ClassifierHead classifier;

    /// <param name="encoder">The backbone (owned).</param>
    /// <param name="classifier">The head (owned).</param>
    public ImageClassifier(VisionTransformer encoder, ClassifierHead classifier) : base(nameof(ImageClassifier))
    {
        this.encoder = encoder;
        this.classifier = classifier;
        RegisterComponents();
    }

    /// <summary>The backbone.</summary>
    public VisionTransformer Encoder => encoder;

    /// <summary>The classification head.</summary>
    public ClassifierHead Head => classifier;

    /// <summary>Logits (B, classes) for pixel values (B, C, H, W).</summary>
    public override Tensor forward(Tensor pixel_values) =>
        classifier.call(encoder.Pool(encoder.call(pixel_values)));   // (B, [1+]N, d) → (B, d) → (B, classes)
}
