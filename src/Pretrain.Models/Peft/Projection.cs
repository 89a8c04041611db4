using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Pretrain.Models.Peft;

/// <summary>
/// Creates one linear projection of a block: a plain <c>Linear</c>, or a <see cref="LoraLinear"/> when the LoRA
/// configuration targets this projection name in this block. Both have the state-dict keys weight/bias.
/// </summary>
public static class Projection
{
    /// <param name="inFeatures">Input width.</param>
    /// <param name="outFeatures">Output width.</param>
    /// <param name="hasBias">Whether the layer has a bias.</param>
    /// <param name="name">Our module name (<c>q_proj</c>, <c>down_proj</c>…), matched against <see cref="LoraConfig.Targets"/>.</param>
    /// <param name="layer">Index of the block, matched against <see cref="LoraConfig.Layers"/>.</param>
    /// <param name="lora">LoRA settings, or null for a plain linear layer.</param>
    public static Module<Tensor, Tensor> Create(long inFeatures, long outFeatures, bool hasBias, string name, int layer, LoraConfig? lora) =>
        lora is not null && lora.Applies(name, layer)
            ? new LoraLinear(inFeatures, outFeatures, hasBias, lora)
            : Linear(inFeatures, outFeatures, hasBias);
}
