using Pretrain.Models.Sizing;
using Pretrain.Models.Modules;
using Pretrain.Models.Peft;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Pretrain.Models.Vision;

/// <summary>
/// Vision Transformer (Dosovitskiy et al. 2021): pixel_values (B, C, H, W) → tokens (B, [1+]N, d) after the final
/// LayerNorm, the class token first when there is one. <see cref="ForwardVisible"/> is MAE's encoder: only a kept
/// subset of patches enters the blocks. State-dict keys: patch_embed.*, cls_token, pos_embed, blocks.{i}.*, norm.*;
/// pos_embed is a parameter when learned and a (saved, untrained) buffer when sin-cos.
/// </summary>
public sealed class VisionTransformer : Module<Tensor, Tensor>
{
    private readonly Conv2d patch_embed;  // (d, C, p, p), stride p
    private readonly Parameter? cls_token; // (1, 1, d)
    private readonly Tensor pos_embed;    // (1, [1+]N, d): Parameter (learned) or buffer (sincos)
    private readonly ModuleList<EncoderBlock> blocks;
    private readonly LayerNorm norm;
    private readonly ActivationCheckpointing? _checkpointing;

    /// <param name="config">Model shape.</param>
    /// <param name="lora">LoRA settings: the projections it targets are built as <see cref="LoraLinear"/>; null for none.</param>
    /// <param name="checkpointing">Which blocks recompute their activations in backward; null keeps them all.</param>
    public VisionTransformer(VitConfig config, LoraConfig? lora = null, ActivationCheckpointing? checkpointing = null)
        : base(nameof(VisionTransformer))
    {
        config.Validate();
        lora?.Validate(config.NumLayers);
        checkpointing?.Validate();
        ModelMemory.EnsureFits(config, lora);
        Config = config;
        Lora = lora;
        _checkpointing = checkpointing;
        var d = config.EmbedDim;
        patch_embed = Conv2d(config.NumChannels, d, config.PatchSize, stride: config.PatchSize);
        cls_token = config.ClassToken ? new Parameter(torch.zeros(1, 1, d)) : null;
        var rows = config.NumPatches + (config.ClassToken ? 1 : 0);
        pos_embed = config.PosEmbed == "sincos"
            ? SinCosPositions.Table2D(d, config.GridSize, config.ClassToken)
            : new Parameter(torch.zeros(1, rows, d));
        blocks = new ModuleList<EncoderBlock>();
        for (var i = 0; i < config.NumLayers; i++)
            blocks.Add(new EncoderBlock(d, config.NumHeads, config.MlpDim, config.NormEps, postNorm: false,
                config.QkvBias, config.Dropout, config.AttentionDropout, i, lora));
        norm = LayerNorm(d, config.NormEps);
        RegisterComponents();
    }

    /// <summary>The configuration this model was built from.</summary>
    public VitConfig Config { get; }

    /// <summary>The LoRA settings this model was built with, or null.</summary>
    public LoraConfig? Lora { get; }

    /// <summary>Number of leading non-patch tokens (1 with a class token, else 0).</summary>
    public int PrefixTokens => cls_token is null ? 0 : 1;

    public override Tensor forward(Tensor pixel_values) // (B, C, H, W) -> (B, [1+]N, d)
        => Encode(EmbedPatches(pixel_values));

    /// <summary>
    /// MAE's encoder (He et al. 2021, §3): embeds every patch with its position, keeps the patches
    /// <paramref name="keep_idx"/> names for each sample (in that order), prepends the class token, then runs the
    /// blocks on the visible tokens only.
    /// </summary>
    /// <param name="pixel_values">(B, C, H, W) images.</param>
    /// <param name="keep_idx">(B, K) int64 patch indices in [0, N), row-major patch order.</param>
    /// <returns>(B, [1+]K, d) tokens.</returns>
    public Tensor ForwardVisible(Tensor pixel_values, Tensor keep_idx)
    {
        var x = EmbedPatches(pixel_values);                                            // (B, N, d)
        var index = keep_idx.unsqueeze(-1).expand(-1, -1, x.shape[2]);                 // (B, K, d)
        return Encode(x.gather(1, index));                                             // (B, [1+]K, d)
    }

    /// <summary>Pooled features (B, d): the class token's output ("cls") or the mean of the patch tokens ("mean").</summary>
    public Tensor Pool(Tensor tokens) => Config.GlobalPool == "cls" // (B, [1+]N, d) -> (B, d)
        ? tokens[.., 0]
        : tokens[.., PrefixTokens..].mean([1L]);

    /// <summary>
    /// Resizes a position table to another patch grid, as Hugging Face's <c>interpolate_pos_encoding</c> does:
    /// the patch rows as a (d, G, G) image, bicubic (align_corners false); the class row is kept as it is.
    /// </summary>
    /// <param name="table">(1, [1+]G·G, d) position table.</param>
    /// <param name="classToken">Whether the first row belongs to a class token.</param>
    /// <param name="newGrid">Patches per side after resizing.</param>
    /// <returns>(1, [1+]newGrid², d).</returns>
    public static Tensor InterpolatePositions(Tensor table, bool classToken, int newGrid)
    {
        var prefix = classToken ? 1 : 0;
        var n = table.shape[1] - prefix;
        var d = table.shape[2];
        var grid = (long)Math.Round(Math.Sqrt(n));
        if (grid * grid != n)
            throw new ArgumentException($"The position table holds {n} patch rows, which is not a square grid.", nameof(table));
        var patches = table[.., prefix..].reshape(1, grid, grid, d).permute(0, 3, 1, 2); // (1, d, G, G)
        var resized = functional.interpolate(patches.to_type(ScalarType.Float32), [newGrid, newGrid],
            mode: InterpolationMode.Bicubic, align_corners: false);                     // (1, d, G', G')
        var rows = resized.permute(0, 2, 3, 1).reshape(1, -1, d).to_type(table.dtype); // (1, G'·G', d)
        return classToken ? torch.cat([table[.., ..1], rows], 1) : rows;
    }

    /// <summary>
    /// ViT initialisation: every matrix, the class token and a learned position table N(0, 0.02), biases 0, norm
    /// weights 1; a sin-cos table is left as it is. Seeded CPU generator: depends on nothing else.
    /// </summary>
    public void InitializeWeights(long seed) => WeightInit.Normal(this, seed, 0.02);

    private Tensor EmbedPatches(Tensor pixel_values) // (B, C, H, W) -> (B, N, d)
    {
        var (h, w) = (pixel_values.shape[2], pixel_values.shape[3]);
        if (h != Config.ImageSize || w != Config.ImageSize)
            throw new ArgumentException(
                $"Images are {h}×{w}; this ViT's position table is for {Config.ImageSize}×{Config.ImageSize}. " +
                "Resize the images, or load the weights into a model built for this size (HfVitLayout.LoadHf resizePositions).",
                nameof(pixel_values));
        var x = patch_embed.call(pixel_values).flatten(2).transpose(1, 2); // (B, d, G, G) -> (B, N, d)
        return x + pos_embed[.., PrefixTokens..];                          // (B, N, d) + (1, N, d)
    }

    private Tensor Encode(Tensor patches) // (B, K, d) -> (B, [1+]K, d)
    {
        var x = patches;
        if (cls_token is not null)
        {
            var cls = (cls_token + pos_embed[.., ..1]).expand(x.shape[0], -1, -1); // (B, 1, d)
            x = torch.cat([cls, x], 1);
        }
        x = functional.dropout(x, Config.Dropout, training);
        for (var i = 0; i < blocks.Count; i++)
        {
            var block = blocks[i];
            x = _checkpointing?.Applies(i) == true
                ? ActivationCheckpoint.Run((h, _) => block.call(h, null), x, [], block.parameters(), training)
                : block.call(x, null);
        }
        return norm.call(x);
    }
}
