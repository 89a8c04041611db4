using Pretrain.Models.Sizing;
using Pretrain.Models.Modules;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Pretrain.Models.Vision;

/// <summary>
/// MAE's decoder (He et al. 2021, §3): the encoder's visible tokens are projected to the decoder width, a shared
/// learned mask token fills every hidden patch, ids_restore puts all tokens back in patch order, fixed 2-D sin-cos
/// positions are added, then light pre-LN blocks, a LayerNorm and a linear layer predict p·p·C values per patch
/// (the order of <see cref="ImagePatches.Patchify"/>). State-dict keys: embed.*, mask_token, pos_embed (buffer),
/// blocks.{i}.*, norm.*, pred.*.
/// </summary>
public sealed class MaeDecoder : Module<Tensor, Tensor, Tensor>
{
    private readonly Linear embed;         // encoder d -> decoder d
    private readonly Parameter mask_token; // (1, 1, dd)
    private readonly Tensor pos_embed;     // (1, [1+]N, dd) fixed sin-cos buffer
    private readonly ModuleList<EncoderBlock> blocks;
    private readonly LayerNorm norm;
    private readonly Linear pred;          // dd -> p·p·C

    private readonly int _prefix;
    private readonly ActivationCheckpointing? _checkpointing;

    /// <param name="encoder">The encoder's shape (patch grid, width, class token).</param>
    /// <param name="config">Decoder shape.</param>
    /// <param name="checkpointing">Which decoder blocks recompute their activations in backward; null keeps them all.</param>
    public MaeDecoder(VitConfig encoder, MaeDecoderConfig config, ActivationCheckpointing? checkpointing = null) : base(nameof(MaeDecoder))
    {
        encoder.Validate();
        config.Validate();
        checkpointing?.Validate();
        ModelMemory.EnsureMaeDecoderFits(encoder, config);
        Config = config;
        _checkpointing = checkpointing;
        _prefix = encoder.ClassToken ? 1 : 0;
        var dd = config.EmbedDim;
        var eps = config.NormEps ?? encoder.NormEps;
        embed = Linear(encoder.EmbedDim, dd);
        mask_token = new Parameter(torch.zeros(1, 1, dd));
        pos_embed = SinCosPositions.Table2D(dd, encoder.GridSize, encoder.ClassToken);
        blocks = new ModuleList<EncoderBlock>();
        for (var i = 0; i < config.NumLayers; i++)
            blocks.Add(new EncoderBlock(dd, config.NumHeads, config.MlpDim, eps, postNorm: false));
        norm = LayerNorm(dd, eps);
        pred = Linear(dd, encoder.PatchDim);
        RegisterComponents();
    }

    /// <summary>The decoder configuration this module was built from.</summary>
    public MaeDecoderConfig Config { get; }

    /// <summary>Reconstructs every patch from the visible ones.</summary>
    /// <param name="latent">(B, [1+]K, d) encoder output of <see cref="VisionTransformer.ForwardVisible"/>.</param>
    /// <param name="ids_restore">(B, N) int64: for patch n, its position in the shuffled order (kept first, then
    /// masked), i.e. argsort of the shuffle whose first K entries were kept.</param>
    /// <returns>(B, N, p·p·C) predicted patch values.</returns>
    public override Tensor forward(Tensor latent, Tensor ids_restore)
    {
        var x = embed.call(latent);                                         // (B, [1+]K, dd)
        var (b, dd) = (x.shape[0], x.shape[2]);
        var n = ids_restore.shape[1];
        var visible = x[.., _prefix..];                                     // (B, K, dd)
        var masks = mask_token.expand(b, n - visible.shape[1], dd);         // (B, N − K, dd)
        var shuffled = torch.cat([visible, masks], 1);                      // (B, N, dd) in shuffled order
        var index = ids_restore.unsqueeze(-1).expand(-1, -1, dd);           // (B, N, dd)
        var tokens = shuffled.gather(1, index);                             // (B, N, dd) in patch order
        if (_prefix > 0)
            tokens = torch.cat([x[.., ..1], tokens], 1);                    // (B, 1 + N, dd)
        tokens = tokens + pos_embed;
        for (var i = 0; i < blocks.Count; i++)
        {
            var block = blocks[i];
            tokens = _checkpointing?.Applies(i) == true
                ? ActivationCheckpoint.Run((h, _) => block.call(h, null), tokens, [], block.parameters(), training)
                : block.call(tokens, null);
        }
        return pred.call(norm.call(tokens))[.., _prefix..];                 // (B, N, p·p·C)
    }

    /// <summary>MAE-style initialisation: matrices and the mask token N(0, 0.02), biases 0, norm weights 1.</summary>
    public void InitializeWeights(long seed) => WeightInit.Normal(this, seed, 0.02);
}
