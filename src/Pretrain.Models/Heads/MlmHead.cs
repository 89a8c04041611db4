using Pretrain.Models.Text;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Pretrain.Models.Heads;

/// <summary>
/// BERT's masked-LM head (cls.predictions): dense → GELU (erf) → LayerNorm → decoder tied to the encoder's word
/// embeddings, plus a per-token bias. State-dict keys: dense.*, norm.*, bias; the tied decoder owns no parameter.
/// </summary>
public sealed class MlmHead : Module<Tensor, Tensor?, Tensor>
{
    private readonly Linear dense;   // (C, C) transform.dense
    private readonly LayerNorm norm; // transform.LayerNorm
    private readonly Parameter bias; // (V,) predictions.bias

    // A delegate, not the encoder itself: a Module field would be registered and its weights saved twice. Read on
    // every call, so it follows the encoder when .to(device) replaces its parameters.
    private readonly Func<Tensor> _wordEmbeddings;

    public MlmHead(EncoderLm encoder) : base(nameof(MlmHead))
    {
        var c = encoder.Config;
        dense = Linear(c.EmbedDim, c.EmbedDim);
        norm = LayerNorm(c.EmbedDim, c.NormEps);
        bias = new Parameter(torch.zeros(c.VocabSize));
        _wordEmbeddings = () => encoder.WordEmbeddings;
        RegisterComponents();
    }

    /// <summary>Token logits, for every position or only for some.</summary>
    /// <param name="hidden">(B, T, C) encoder output.</param>
    /// <param name="positions">Null, or (M,) int64 indices into the flattened B·T positions (e.g. the masked ones):
    /// only those rows go through the head, which saves the (·, V) matmul for the rest.</param>
    /// <returns>(B, T, V) logits, or (M, V) when <paramref name="positions"/> is given.</returns>
    public override Tensor forward(Tensor hidden, Tensor? positions)
    {
        var x = positions is null ? hidden : hidden.reshape(-1, hidden.shape[^1]).index_select(0, positions); // (M, C)
        x = norm.call(functional.gelu(dense.call(x)));
        return functional.linear(x, _wordEmbeddings(), bias); // (…, V)
    }

    /// <summary>BERT initialisation: dense N(0, 0.02), biases 0, LayerNorm weight 1.</summary>
    public void InitializeWeights(long seed) => Modules.WeightInit.Normal(this, seed, 0.02);
}
