using Pretrain.Models.Sizing;
using Pretrain.Models.Modules;
using Pretrain.Models.Peft;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Pretrain.Models.Text;

/// <summary>
/// Decoder-only causal language model: token ids (B, T) int64 → next-token logits (B, T, V).
/// GPT-2 (Radford et al. 2019) or Llama (Touvron et al. 2023) by <see cref="DecoderLmConfig.Arch"/>.
/// State-dict keys are the field names: tok_embed, pos_embed (gpt2), blocks.{i}.*, norm, lm_head (untied only);
/// with LoRA, the targeted projections add blocks.{i}.….lora_a / lora_b beside their weight and bias.
/// </summary>
public sealed class DecoderLm : Module<Tensor, Tensor>
{
    private readonly Embedding tok_embed;           // (V, C)
    private readonly Embedding? pos_embed;          // (maxT, C), gpt2 only
    private readonly ModuleList<DecoderBlock> blocks;
    private readonly Module<Tensor, Tensor> norm;   // final norm
    private readonly Linear? lm_head;               // (V, C), only when embeddings are not tied
    private readonly ActivationCheckpointing? _checkpointing;

    /// <param name="config">Model shape.</param>
    /// <param name="lora">LoRA settings: the projections it targets are built as <see cref="LoraLinear"/>; null for none.</param>
    /// <param name="checkpointing">Which blocks recompute their activations in backward; null keeps them all.</param>
    public DecoderLm(DecoderLmConfig config, LoraConfig? lora = null, ActivationCheckpointing? checkpointing = null) : base(nameof(DecoderLm))
    {
        config.Validate();
        lora?.Validate(config.NumLayers);
        checkpointing?.Validate();
        ModelMemory.EnsureFits(config, lora);
        Config = config;
        Lora = lora;
        _checkpointing = checkpointing;
        tok_embed = Embedding(config.VocabSize, config.EmbedDim);
        pos_embed = config.IsLlama ? null : Embedding(config.MaxSeqLen, config.EmbedDim);
        blocks = new ModuleList<DecoderBlock>();
        for (var i = 0; i < config.NumLayers; i++)
            blocks.Add(new DecoderBlock(config, i, lora));
        norm = DecoderBlock.Norm(config);
        lm_head = config.TieEmbeddings ? null : Linear(config.EmbedDim, config.VocabSize, hasBias: false);
        RegisterComponents();
    }

    /// <summary>The configuration this model was built from.</summary>
    public DecoderLmConfig Config { get; }

    /// <summary>The LoRA settings this model was built with, or null.</summary>
    public LoraConfig? Lora { get; }

    public override Tensor forward(Tensor input_ids) => forward(input_ids, null, null); // (B, T) int64 -> (B, T, V)

    /// <summary>
    /// Forward with explicit positions and attention mask, for packed blocks of several documents: with
    /// <paramref name="attn_mask"/> block-diagonal causal and <paramref name="position_ids"/> restarting at 0 per document,
    /// every document's logits are those it would get alone (learned GPT-2 positions and RoPE alike).
    /// </summary>
    /// <param name="input_ids">(B, T) int64.</param>
    /// <param name="position_ids">(B, T) int64 positions (gpt2: rows of pos_embed; llama: RoPE angles); null: 0..T-1.</param>
    /// <param name="attn_mask">(B, 1, T, T) bool, true = query may attend key; must include causality; null: causal.</param>
    public Tensor forward(Tensor input_ids, Tensor? position_ids, Tensor? attn_mask) => forward(input_ids, position_ids, attn_mask, null); // (B, T) int64 -> (B, T, V)

    /// <summary>As <see cref="forward(Tensor, Tensor?, Tensor?)"/>, recording the hidden states into <paramref name="capture"/> when given (not attention).</summary>
    public Tensor forward(Tensor input_ids, Tensor? position_ids, Tensor? attn_mask, LayerCapture? capture) // (B, T) int64 -> (B, T, V)
    {
        if (capture is { LastAttention: true })
            throw new ArgumentException("DecoderLm records hidden states only, not attention.", nameof(capture));
        var t = input_ids.shape[1];
        if (pos_embed is not null && t > Config.MaxSeqLen)
            throw new ArgumentException($"Sequence length {t} exceeds model.max_seq_len ({Config.MaxSeqLen}).", nameof(input_ids));
        var x = tok_embed.call(input_ids); // (B, T, C)
        if (pos_embed is not null)
            x = x + pos_embed.call(position_ids ?? torch.arange(t, ScalarType.Int64, input_ids.device)); // (B, T, C) + (B|1, T, C)
        x = functional.dropout(x, Config.Dropout, training);
        capture?.Hidden.Add(x);
        for (var i = 0; i < blocks.Count; i++)
        {
            var block = blocks[i];
            if (_checkpointing?.Applies(i) == true)   // mask and positions go through the node as extras
                x = ActivationCheckpoint.Run((h, e) => block.forward(h, e[0], e[1]), x, [attn_mask, position_ids], block.parameters(), training);
            else
                x = attn_mask is null && position_ids is null ? block.call(x) : block.forward(x, attn_mask, position_ids);
            capture?.Hidden.Add(x);
        }
        x = norm.call(x);
        // Tied: the head is the token embedding matrix itself, so there is one parameter, not two.
        return lm_head is null ? functional.linear(x, tok_embed.weight!) : lm_head.call(x); // (B, T, V)
    }

    /// <summary>
    /// GPT-2 initialisation (nanoGPT): every matrix and embedding N(0, 0.02); the residual output projections
    /// (attn.o_proj, mlp.down_proj) N(0, 0.02/√(2·layers)) (GPT-2 paper §2.3); biases 0; norm weights 1.
    /// Draws from a CPU generator seeded with <paramref name="seed"/>, so the result depends on nothing else
    /// (not the global RNG, not the device the model is on). LoRA matrices are left as built (B stays zero), so the
    /// base weights are drawn exactly as in a model without LoRA.
    /// </summary>
    public void InitializeWeights(long seed)
    {
        const double std = 0.02;
        var residualStd = std / Math.Sqrt(2.0 * Config.NumLayers);
        using var generator = new Generator(unchecked((ulong)seed), torch.CPU);
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();   // in-place ops return wrappers; free them now, not at GC
        foreach (var (name, p) in named_parameters())
        {
            if (LoraLinear.IsAdapterParameter(name))
                continue;
            if (p.dim() >= 2)
            {
                var s = name.EndsWith(".o_proj.weight", StringComparison.Ordinal)
                    || name.EndsWith(".down_proj.weight", StringComparison.Ordinal) ? residualStd : std;
                using var draw = torch.empty(p.shape, ScalarType.Float32).normal_(0, s, generator);
                p.copy_(draw);
            }
            else if (name.EndsWith(".bias", StringComparison.Ordinal))
            {
                p.zero_();
            }
            else
            {
                p.fill_(1.0); // norm scales
            }
        }
    }

    /// <summary>Number of parameter elements (a tied head counts once); optionally without the position table.</summary>
    public long ParameterCount(bool excludePositionEmbeddings = false)
    {
        long total = 0;
        foreach (var (name, p) in named_parameters())
        {
            if (excludePositionEmbeddings && name.StartsWith(nameof(pos_embed) + ".", StringComparison.Ordinal))
                continue;
            total += p.numel();
        }
        return total;
    }
}
