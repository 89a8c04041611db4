using Pretrain.Models.Sizing;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Pretrain.Models.Heads;

/// <summary>
/// Classification head on pooled features (B, d) → logits (B, classes): dropout then one linear layer (BERT's and
/// ViT's <c>classifier</c>; a linear probe with dropout 0). State-dict keys: fc.*.
/// </summary>
public sealed class ClassifierHead : Module<Tensor, Tensor>
{
    private readonly Linear fc; // (classes, d)
    private readonly double _dropout;

    public ClassifierHead(int inDim, int numClasses, double dropout = 0) : base(nameof(ClassifierHead))
    {
        if (inDim <= 0 || numClasses <= 0)
            throw new ArgumentException($"A classifier needs positive sizes; got in {inDim}, classes {numClasses}.");
        if (dropout is < 0 or >= 1 || double.IsNaN(dropout))
            throw new ArgumentException($"Classifier dropout ({dropout}) must be in [0, 1).", nameof(dropout));
        ModelMemory.EnsureFits($"The classifier head ({inDim} → {numClasses} classes)", inDim, 0, numClasses);
        fc = Linear(inDim, numClasses);
        _dropout = dropout;
        NumClasses = numClasses;
        RegisterComponents();
    }

    /// <summary>Number of output classes.</summary>
    public int NumClasses { get; }

    /// <summary>
    /// For exports of a text classifier: the features this head reads, as the checkpoint's config.json
    /// <c>pretrain.pooling</c> says — "cls" (the first token's hidden state), "mean" (masked mean), or null (a Hugging
    /// Face BertForSequenceClassification: BERT's pooler when the encoder has one, else the first token).
    /// </summary>
    public string? Pooling { get; init; }

    public override Tensor forward(Tensor features) // (B, d) -> (B, classes)
        => fc.call(functional.dropout(features, _dropout, training));
}
