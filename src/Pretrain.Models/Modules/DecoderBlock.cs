using Pretrain.Models.Peft;
using Pretrain.Models.Text;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Pretrain.Models.Modules;

/// <summary>
/// Pre-norm decoder block: x + drop(attn(norm1(x))), then x + drop(mlp(norm2(x))).
/// gpt2: LayerNorm and a GELU MLP; llama: RMSNorm and a SwiGLU MLP.
/// </summary>
public sealed class DecoderBlock : Module<Tensor, Tensor>
{
    private readonly Module<Tensor, Tensor> norm1; // state-dict key: blocks.{i}.norm1.*
    private readonly CausalSelfAttention attn;
    private readonly Module<Tensor, Tensor> norm2;
    private readonly Module<Tensor, Tensor> mlp;
    private readonly double _dropout;

    /// <param name="config">Model shape.</param>
    /// <param name="layer">Index of this block, for <see cref="LoraConfig.Layers"/>.</param>
    /// <param name="lora">LoRA settings; null for plain linear projections.</param>
    public DecoderBlock(DecoderLmConfig config, int layer = 0, LoraConfig? lora = null) : base(nameof(DecoderBlock))
    {
        norm1 = Norm(config);
        attn = new CausalSelfAttention(config, layer, lora);
        norm2 = Norm(config);
        mlp = config.IsLlama ? new SwiGluMlp(config, layer, lora) : new GeluMlp(config, layer, lora);
        _dropout = config.Dropout;
        RegisterComponents();
    }

    /// <summary>The block's normalisation for its arch: LayerNorm (gpt2) or RMSNorm (llama).</summary>
    internal static Module<Tensor, Tensor> Norm(DecoderLmConfig config) => config.IsLlama
        ? new RmsNorm(config.EmbedDim, config.NormEps)
        : LayerNorm(config.EmbedDim, config.NormEps, bias: config.UseBias);

    public override Tensor forward(Tensor x) => forward(x, null, null); // (B, T, C) -> (B, T, C)

    /// <summary>With an attention mask and positions (see <see cref="CausalSelfAttention.forward(Tensor, Tensor?, Tensor?)"/>).</summary>
    public Tensor forward(Tensor x, Tensor? attn_mask, Tensor? position_ids) // (B, T, C) -> (B, T, C)
    {
        x = x + functional.dropout(attn.forward(norm1.call(x), attn_mask, position_ids), _dropout, training);
        return x + functional.dropout(mlp.call(norm2.call(x)), _dropout, training);
    }
}
