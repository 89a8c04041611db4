using Pretrain.Models.Sizing;
using Pretrain.Models.Modules;
using Pretrain.Models.Peft;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Pretrain.Models.Text;

/// <summary>
/// BERT-style bidirectional encoder (Devlin et al. 2019): (input_ids, attention_mask, token_type_ids) → last hidden
/// state (B, T, C). Heads (MLM, classifier, pooling) sit outside, in Pretrain.Models.Heads.
/// State-dict keys are the field names: tok_embed, pos_embed, type_embed, embed_norm, blocks.{i}.*, norm (pre-LN
/// only), pooler (when enabled). Weights/HfEncoderLayout maps them to Hugging Face's BERT names.
/// </summary>
public sealed class EncoderLm : Module<Tensor, Tensor?, Tensor?, Tensor>
{
    private readonly Embedding tok_embed;   // (V, C) word_embeddings
    private readonly Embedding pos_embed;   // (maxT, C) position_embeddings
    private readonly Embedding? type_embed; // (types, C) token_type_embeddings
    private readonly LayerNorm embed_norm;  // embeddings.LayerNorm
    private readonly ModuleList<EncoderBlock> blocks;
    private readonly LayerNorm? norm;       // final norm, pre-LN only
    private readonly Linear? pooler;        // (C, C), tanh on the first token
    private readonly ActivationCheckpointing? _checkpointing;

    /// <param name="config">Model shape.</param>
    /// <param name="lora">LoRA settings: the projections it targets are built as <see cref="LoraLinear"/>; null for none.</param>
    /// <param name="checkpointing">Which blocks recompute their activations in backward; null keeps them all.</param>
    public EncoderLm(EncoderLmConfig config, LoraConfig? lora = null, ActivationCheckpointing? checkpointing = null) : base(nameof(EncoderLm))
    {
        config.Validate();
        lora?.Validate(config.NumLayers);
        checkpointing?.Validate();
        ModelMemory.EnsureFits(config, lora);
        Config = config;
        Lora = lora;
        _checkpointing = checkpointing;
        var d = config.EmbedDim;
        tok_embed = Embedding(config.VocabSize, d);
        pos_embed = Embedding(config.MaxSeqLen, d);
        type_embed = config.TypeVocabSize > 0 ? Embedding(config.TypeVocabSize, d) : null;
        embed_norm = LayerNorm(d, config.NormEps);
        blocks = new ModuleList<EncoderBlock>();
        for (var i = 0; i < config.NumLayers; i++)
            blocks.Add(new EncoderBlock(d, config.NumHeads, config.MlpDim, config.NormEps, config.PostNorm,
                qkvBias: true, config.Dropout, config.AttentionDropout, i, lora));
        norm = config.PostNorm ? null : LayerNorm(d, config.NormEps);
        pooler = config.Pooler ? Linear(d, d) : null;
        RegisterComponents();
    }

    /// <summary>The configuration this model was built from.</summary>
    public EncoderLmConfig Config { get; }

    /// <summary>The LoRA settings this model was built with, or null.</summary>
    public LoraConfig? Lora { get; }

    /// <summary>The word embedding matrix (V, C), which a tied MLM decoder reuses.</summary>
    public Tensor WordEmbeddings => tok_embed.weight!;

    /// <summary>Encodes a batch.</summary>
    /// <param name="input_ids">(B, T) int64 token ids.</param>
    /// <param name="attention_mask">(B, T) int64, 1 = real token, 0 = padding; null means all real.</param>
    /// <param name="token_type_ids">(B, T) int64 segment ids; null means all 0.</param>
    /// <returns>last_hidden_state (B, T, C).</returns>
    public override Tensor forward(Tensor input_ids, Tensor? attention_mask, Tensor? token_type_ids) =>
        forward(input_ids, attention_mask, token_type_ids, null);

    /// <summary>As <see cref="forward(Tensor, Tensor?, Tensor?)"/>, recording hidden states (and the last block's attention) into <paramref name="capture"/> when given.</summary>
    public Tensor forward(Tensor input_ids, Tensor? attention_mask, Tensor? token_type_ids, LayerCapture? capture)
    {
        var t = input_ids.shape[1];
        if (t > Config.MaxSeqLen)
            throw new ArgumentException($"Sequence length {t} exceeds model.max_seq_len ({Config.MaxSeqLen}).", nameof(input_ids));
        var x = tok_embed.call(input_ids) + pos_embed.call(torch.arange(t, ScalarType.Int64, input_ids.device)); // (B, T, C)
        if (type_embed is not null)
            x = x + (token_type_ids is null ? type_embed.weight![0] : type_embed.call(token_type_ids)); // segment 0 by default
        x = functional.dropout(embed_norm.call(x), Config.Dropout, training);
        var mask = attention_mask is null ? null : BidirectionalSelfAttention.KeyPaddingMask(attention_mask, x.dtype); // (B, 1, 1, T)
        if (capture is not null)
        {
            capture.TokenMask = attention_mask;
            capture.Hidden.Add(x);
        }
        for (var i = 0; i < blocks.Count; i++)
        {
            var block = blocks[i];
            if (capture is { LastAttention: true } && i == blocks.Count - 1)
                x = block.forward(x, mask, capture);   // recorded, so not recomputed by a checkpoint node
            else
                x = _checkpointing?.Applies(i) == true   // the padding mask goes through the node as an extra
                    ? ActivationCheckpoint.Run((h, e) => block.call(h, e[0]), x, [mask], block.parameters(), training)
                    : block.call(x, mask);
            capture?.Hidden.Add(x);
        }
        return norm is null ? x : norm.call(x);
    }

    /// <summary>BERT's pooled output: tanh(dense(hidden[:, 0])) (B, C). Needs <see cref="EncoderLmConfig.Pooler"/>.</summary>
    public Tensor Pool(Tensor hidden) // (B, T, C) -> (B, C)
    {
        if (pooler is null)
            throw new InvalidOperationException("This encoder has no pooler: set model.pooler to true, or use EncoderLm.MeanPool.");
        return torch.tanh(pooler.call(hidden[.., 0]));
    }

    /// <summary>
    /// Sentence-transformers mean pooling: the average of the hidden states of real tokens (mask 1), padding ignored.
    /// An all-padding row gives zeros (the count is clamped to 1e-9, as sentence-transformers does).
    /// </summary>
    public static Tensor MeanPool(Tensor hidden, Tensor attention_mask) // (B, T, C), (B, T) -> (B, C)
    {
        var m = attention_mask.to_type(hidden.dtype).unsqueeze(-1); // (B, T, 1)
        var sum = (hidden * m).sum(1);                              // (B, C)
        return sum / m.sum(1).clamp_min(1e-9);                      // (B, C) / (B, 1)
    }

    /// <summary>
    /// BERT initialisation: every matrix and embedding N(0, 0.02), biases 0, LayerNorm weights 1. Draws from a CPU
    /// generator seeded with <paramref name="seed"/>, so the result depends on nothing else.
    /// </summary>
    public void InitializeWeights(long seed) => WeightInit.Normal(this, seed, 0.02);

    /// <summary>Number of parameter elements.</summary>
    public long ParameterCount() => parameters().Sum(p => p.numel());
}
