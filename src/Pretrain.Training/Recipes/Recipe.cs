namespace Pretrain.Training.Recipes;

// The typed recipe. YAML keys are the snake_case of these property names (MaxSteps -> max_steps).
// Defaults here are the documented defaults; README/recipes refer to them. Only the recipe runner sees a whole Recipe.

/// <summary>A whole recipe: what to train, on what, and how.</summary>
public sealed record Recipe
{
    public required string Name { get; init; }
    public ModelSection Model { get; init; } = new();
    public ObjectiveSection Objective { get; init; } = new();
    public TokenizerSection Tokenizer { get; init; } = new();
    public DataSection Data { get; init; } = new();
    public OptimizerSection Optimizer { get; init; } = new();
    public ScheduleSection Schedule { get; init; } = new();
    public TrainSection Train { get; init; } = new();
    /// <summary>Start from an existing checkpoint (ours, or `pretrain import`ed) instead of random weights.</summary>
    public InitSection? Init { get; init; }
    /// <summary>Low-rank adapters on a frozen base (needs init).</summary>
    public LoraSection? Lora { get; init; }
    /// <summary>End the run with an ONNX export of the final checkpoint, checked against ONNX Runtime.</summary>
    public ExportSection? Export { get; init; }
}

/// <summary>The export step `pretrain run` performs after training (the same as `pretrain export`).</summary>
public sealed record ExportSection
{
    /// <summary>Output folder; default &lt;run folder&gt;/onnx.</summary>
    public string? Out { get; init; }
    public int Opset { get; init; } = 17;
    /// <summary>fp32 or fp16 (weights stored fp16, computed fp32).</summary>
    public string Dtype { get; init; } = "fp32";
    /// <summary>Decoders: key/value cache inputs and outputs for incremental generation.</summary>
    public bool WithPast { get; init; }
}

/// <summary>Where the starting weights come from.</summary>
public sealed record InitSection
{
    /// <summary>A run folder (its latest checkpoint), a step folder, or a folder written by `pretrain import`.
    /// Its config.json fixes the model's shape and its tokenizer/ the tokenizer; model sizes in the recipe are ignored.</summary>
    public required string Checkpoint { get; init; }
}

/// <summary>LoRA (Hu et al. 2021): W + (alpha/r)·B·A on the targeted projections; everything else frozen.</summary>
public sealed record LoraSection
{
    public int Rank { get; init; } = 8;
    public double Alpha { get; init; } = 16;
    public double Dropout { get; init; } = 0.05;
    /// <summary>Our projection names: q_proj, k_proj, v_proj, o_proj, up_proj, down_proj, gate_proj.</summary>
    public IReadOnlyList<string> Targets { get; init; } = ["q_proj", "v_proj"];
    /// <summary>Block indices that get adapters (null: all).</summary>
    public IReadOnlyList<int>? Layers { get; init; }
    /// <summary>Scale alpha/sqrt(r) instead of alpha/r.</summary>
    public bool UseRslora { get; init; }
    /// <summary>DoRA (Liu et al. 2024): a trained magnitude per output feature over the normalised W + s·B·A.</summary>
    public bool UseDora { get; init; }
    /// <summary>Further parameters to train, as globs over our names ("*norm*", "classifier.*").</summary>
    public IReadOnlyList<string> Trainable { get; init; } = [];
    /// <summary>Also write the merged full model.safetensors into each checkpoint (adapter-only otherwise).</summary>
    public bool SaveFull { get; init; }
    /// <summary>fp32 or bf16: the dtype the frozen base's linear/conv weights are held in (bf16 halves them; needs bf16 compute).</summary>
    public string BaseDtype { get; init; } = "fp32";
    /// <summary>QLoRA: the adapted projections' frozen base weights held as none (float32), int8 or nf4.</summary>
    public string QuantizeBase { get; init; } = "none";
}

/// <summary>The network. `arch` picks the family; the rest are its sizes.</summary>
public sealed record ModelSection
{
    /// <summary>
    /// gpt2 (learned positions, LayerNorm, GELU), llama (RoPE, RMSNorm, SwiGLU), bert (bidirectional encoder,
    /// post-LN unless post_norm is false) or vit (vision transformer, pre-LN).
    /// </summary>
    public string Arch { get; init; } = "gpt2";
    /// <summary>Defaults to the tokenizer's vocabulary size (rounded up to a multiple of 64).</summary>
    public int? VocabSize { get; init; }
    public int MaxSeqLen { get; init; } = 1024;
    public int EmbedDim { get; init; } = 768;
    public int NumLayers { get; init; } = 12;
    public int NumHeads { get; init; } = 12;
    /// <summary>Grouped-query attention (llama); defaults to num_heads.</summary>
    public int? NumKvHeads { get; init; }
    /// <summary>Defaults to 4·embed_dim (gpt2, bert, vit) or the Llama rule 2/3·4·embed_dim rounded to 64 (llama).</summary>
    public int? MlpHiddenDim { get; init; }
    public double Dropout { get; init; }
    /// <summary>Dropout on attention probabilities (bert, vit); defaults to dropout.</summary>
    public double? AttentionDropout { get; init; }
    public bool TieEmbeddings { get; init; } = true;
    /// <summary>Defaults to 1e-5 (gpt2, llama) or 1e-12 (bert, vit: the Hugging Face defaults).</summary>
    public double? NormEps { get; init; }
    public double RopeTheta { get; init; } = 10000;
    /// <summary>Biases in linear layers; defaults true for gpt2, false for llama (bert and vit: always, qkv_bias for vit).</summary>
    public bool? Bias { get; init; }
    /// <summary>bert: segment (token type) vocabulary; 0 drops segment embeddings.</summary>
    public int TypeVocabSize { get; init; } = 2;
    /// <summary>bert: true for BERT's post-LN blocks; false for pre-LN with a final norm.</summary>
    public bool PostNorm { get; init; } = true;
    /// <summary>vit: square input size in pixels.</summary>
    public int ImageSize { get; init; } = 224;
    /// <summary>vit: square patch size in pixels.</summary>
    public int PatchSize { get; init; } = 16;
    /// <summary>vit: input channels (1 for grayscale).</summary>
    public int Channels { get; init; } = 3;
    /// <summary>vit: cls (class token) or mean (average of patch tokens).</summary>
    public string GlobalPool { get; init; } = "cls";
    /// <summary>vit: learned or sincos (fixed 2-D, as MAE).</summary>
    public string PosEmbed { get; init; } = "learned";
    public bool QkvBias { get; init; } = true;
}

/// <summary>What the loss is, with each objective's settings (paper defaults).</summary>
public sealed record ObjectiveSection
{
    /// <summary>clm (next token), sft (next token on prompt/response pairs, loss on the response only), mlm (BERT masked LM), classify (sequence classification), mae (masked autoencoder), simclr (NT-Xent on two image views), simcse (dropout-noise InfoNCE on text).</summary>
    public string Kind { get; init; } = "clm";
    /// <summary>mlm: share of tokens chosen for prediction (80% [MASK], 10% random, 10% kept).</summary>
    public double MaskProbability { get; init; } = 0.15;
    /// <summary>mlm: choose whole words (all their pieces) instead of single tokens.</summary>
    public bool WholeWord { get; init; }
    /// <summary>mae: share of patches hidden from the encoder.</summary>
    public double MaskRatio { get; init; } = 0.75;
    /// <summary>mae: regress per-patch normalised pixels.</summary>
    public bool NormPixLoss { get; init; } = true;
    public int DecoderDim { get; init; } = 512;
    public int DecoderLayers { get; init; } = 8;
    public int DecoderHeads { get; init; } = 16;
    /// <summary>simclr / simcse / distill temperature; defaults 0.5 (simclr, small batches), 0.05 (simcse) and 2 (distill).</summary>
    public double? Temperature { get; init; }
    /// <summary>simclr: projection head output size (2-layer MLP).</summary>
    public int ProjectionDim { get; init; } = 128;
    /// <summary>classify: number of classes (labels 0..num_classes-1).</summary>
    public int NumClasses { get; init; } = 2;
    /// <summary>simcse / classify: sentence embedding from cls or mean pooling.</summary>
    public string Pooling { get; init; } = "cls";
    /// <summary>Representation check at each eval: linear, knn, both or none (needs labelled data).</summary>
    public string Probe { get; init; } = "none";
    /// <summary>Labelled train rows whose frozen features fit the probe.</summary>
    public int ProbeTrainRows { get; init; } = 2000;
    /// <summary>Labelled eval rows the probe is scored on.</summary>
    public int ProbeEvalRows { get; init; } = 1000;
    /// <summary>distill: the frozen teacher, a run folder (latest checkpoint), step folder or `pretrain import`ed folder.</summary>
    public string? Teacher { get; init; }
    /// <summary>distill: weight of the soft (teacher) loss α; the hard loss gets 1 − α.</summary>
    public double Alpha { get; init; } = 0.5;
    /// <summary>distill: random, or teacher_layers (every k-th teacher block, as DistilBERT; needs the teacher's width).</summary>
    public string StudentInit { get; init; } = "random";
    /// <summary>distill: the hard task, clm, mlm or classify (default clm for gpt2/llama, classify for bert).</summary>
    public string? Task { get; init; }
    /// <summary>distill: weight β of the hidden-state loss (TinyBERT: MSE through a learned projection when widths differ); 0 turns it off.</summary>
    public double HiddenWeight { get; init; }
    /// <summary>distill: weight γ of the last layer's self-attention KL (MiniLM; encoders, same number of heads); 0 turns it off.</summary>
    public double AttentionWeight { get; init; }
    /// <summary>distill: the teacher layer (1..teacher blocks) each student layer's hidden state matches; default layer i·k, k = teacher blocks / student blocks.</summary>
    public IReadOnlyList<int>? LayerMap { get; init; }
    /// <summary>distill: the teacher's weights and forward, float32 or bf16; default bf16 when train.precision computes in bf16, else float32.</summary>
    public string? TeacherDtype { get; init; }
    /// <summary>sft: eval rows greedily decoded for eval_exact_match (response and eos exactly); 0 turns it off.</summary>
    public int ExactMatchRows { get; init; } = 64;
}

/// <summary>How text becomes ids.</summary>
public sealed record TokenizerSection
{
    /// <summary>
    /// byte (ids 0-255 are bytes, then special tokens), tiktoken (by name), wordpiece (vocab.txt),
    /// sentencepiece (.model), bpe (vocab.json + merges.txt) or hf-json (tokenizer.json).
    /// </summary>
    public string Kind { get; init; } = "byte";
    /// <summary>tiktoken encoding name: gpt2, r50k_base, cl100k_base, o200k_base.</summary>
    public string? Name { get; init; }
    /// <summary>Tokenizer file or folder (wordpiece, sentencepiece, bpe, hf-json).</summary>
    public string? Path { get; init; }
    /// <summary>Separates packed documents (and ends sequences); [SEP] for BERT-style vocabularies.</summary>
    public string EosToken { get; init; } = "<|endoftext|>";
    /// <summary>Further special tokens, e.g. [CLS], [MASK], [PAD] for masked-LM on a byte-level vocabulary.</summary>
    public IReadOnlyList<string> SpecialTokens { get; init; } = [];
    /// <summary>wordpiece / hf-json lower-casing (null: the tokenizer's default).</summary>
    public bool? LowerCase { get; init; }
    /// <summary>SFT rows in the model's chat format: llama3, qwen, mistral or phi3 (null: prompt + response + eos).</summary>
    public string? ChatTemplate { get; init; }
}

/// <summary>Where samples come from.</summary>
public sealed record DataSection
{
    public DataSplit Train { get; init; } = new();
    public DataSplit? Eval { get; init; }
    /// <summary>Image augmentation of the train split (mae, simclr); eval uses its deterministic counterpart.</summary>
    public AugmentSection Augment { get; init; } = new();
    /// <summary>Blocks prefetched in the background (bounded queue).</summary>
    public int Prefetch { get; init; } = 16;
    /// <summary>
    /// clm: a packed token attends only to earlier tokens of its own document (block-diagonal causal mask, positions
    /// restarting per document; see Objectives/DocumentMaskedCausalLm).
    /// </summary>
    public bool DocumentMask { get; init; }
    /// <summary>
    /// fail (default): a corrupt row group, a mistyped column, an undecodable image or an empty labelled text stops the
    /// run with file, row group, row and column named; skip: it is skipped, counted (data_skipped_rows,
    /// data_skipped_row_groups in metrics.jsonl and summary.json) and named once in the log.
    /// </summary>
    public string OnBadData { get; init; } = "fail";
    /// <summary>Seconds the trainer waits for the data producer's next sample before failing with what it was reading.</summary>
    public double TimeoutS { get; init; } = 300;
}

/// <summary>One component of data.train.mix: its files (or synthetic data) and its relative weight.</summary>
public sealed record MixComponent
{
    public IReadOnlyList<string>? Files { get; init; }
    public SyntheticSection? Synthetic { get; init; }
    /// <summary>Relative share of samples (blocks for packed text); weights are normalised.</summary>
    public double Weight { get; init; } = 1;
}

/// <summary>One split: files (globs) or a synthetic generator, and the column to read.</summary>
public sealed record DataSplit
{
    public IReadOnlyList<string>? Files { get; init; }
    public SyntheticSection? Synthetic { get; init; }
    /// <summary>
    /// Train only, instead of files/synthetic: several datasets mixed by weight, e.g. [{files: [a/*.parquet], weight: 0.7},
    /// {files: [b/*.parquet], weight: 0.3}]. Deterministic from train.seed; each component keeps its own cursor (clm, mlm).
    /// </summary>
    public IReadOnlyList<MixComponent>? Mix { get; init; }
    public string TextColumn { get; init; } = "text";
    /// <summary>Image column: a {bytes, path} struct (Hugging Face layout) or binary PNG/JPEG.</summary>
    public string ImageColumn { get; init; } = "image";
    /// <summary>Integer class label column (probes, classification).</summary>
    public string LabelColumn { get; init; } = "label";
    /// <summary>SFT pairs (objective sft): the prompt string column (context, no loss).</summary>
    public string PromptColumn { get; init; } = "prompt";
    /// <summary>SFT pairs (objective sft): the response string column (the targets, followed by eos).</summary>
    public string ResponseColumn { get; init; } = "response";
    /// <summary>Read pre-tokenized ids (list&lt;int32|int64&gt;) from this column instead of tokenizing text_column.</summary>
    public string? TokenColumn { get; init; }
    /// <summary>Eval only: hold out this seeded fraction of the train rows instead of separate files.</summary>
    public double? Fraction { get; init; }
    /// <summary>Eval only: at most this many batches per evaluation (0 = the whole split).</summary>
    public int MaxBatches { get; init; }
    /// <summary>Train, every objective: row groups whose rows are shuffled together each epoch (1 = within a row group).</summary>
    public int ShuffleWindow { get; init; } = 1;
    /// <summary>Train only (classify): train on this seeded share of the labelled rows, e.g. 0.1 for 10% of the labels;
    /// the same rows for every run with the same train.seed (null: all rows).</summary>
    public double? LabelFraction { get; init; }
}

/// <summary>
/// Image augmentation (mae, simclr). Unset keys take the objective's default: random-resized crop scale 0.2–1 and
/// flip 0.5 for both; simclr on colour images also colour jitter 0.5 and grayscale 0.2 (none on gray images).
/// </summary>
public sealed record AugmentSection
{
    /// <summary>Random-resized crop scale range [min, max] to model.image_size; [1, 1] keeps the whole image.</summary>
    public IReadOnlyList<double>? CropScale { get; init; }
    /// <summary>Probability of a left-right mirror.</summary>
    public double? HorizontalFlip { get; init; }
    /// <summary>Colour jitter strength s: brightness, contrast, saturation 0.8·s, hue 0.2·s, applied with p 0.8; 0 is off.</summary>
    public double? ColorJitter { get; init; }
    /// <summary>Probability of converting a colour image to gray.</summary>
    public double? Grayscale { get; init; }
    /// <summary>Per-channel mean subtracted after augmentation (one value, or one per channel); with std.</summary>
    public IReadOnlyList<double>? Mean { get; init; }
    /// <summary>Per-channel standard deviation divided by; with mean.</summary>
    public IReadOnlyList<double>? Std { get; init; }
}

/// <summary>Generated data written into the run's cache (data/ in the run folder).</summary>
public sealed record SyntheticSection
{
    /// <summary>text (random documents), labelled-text (two easy classes: text + label columns), sft (rule-based prompt/response pairs) or images (28×28 gray class-dependent shapes, labelled).</summary>
    public string Kind { get; init; } = "text";
    public int Rows { get; init; } = 4000;
    public int Shards { get; init; } = 4;
    public int RowsPerGroup { get; init; } = 250;
    public int Seed { get; init; }
}

/// <summary>AdamW with decoupled weight decay on 2-D+ tensors only.</summary>
public sealed record OptimizerSection
{
    public string Name { get; init; } = "adamw";
    public double Lr { get; init; } = 6e-4;
    public IReadOnlyList<double> Betas { get; init; } = [0.9, 0.95];
    public double Eps { get; init; } = 1e-8;
    public double WeightDecay { get; init; } = 0.1;
}

/// <summary>Learning-rate schedule: linear warmup, then cosine (or linear, or constant) to min_lr_ratio·lr.</summary>
public sealed record ScheduleSection
{
    public string Kind { get; init; } = "cosine";
    public int WarmupSteps { get; init; } = 100;
    public double MinLrRatio { get; init; } = 0.1;
}

/// <summary>The loop: steps, batch shape, precision, device, cadences.</summary>
public sealed record TrainSection
{
    public int MaxSteps { get; init; } = 1000;
    /// <summary>Tokens per sample (block length); at most model.max_seq_len.</summary>
    public int SeqLen { get; init; } = 256;
    public int MicroBatchSize { get; init; } = 8;
    public int GradAccumSteps { get; init; } = 1;
    public string Precision { get; init; } = "fp32";
    public string Device { get; init; } = "cpu";
    public int Seed { get; init; } = 1337;
    /// <summary>Torch intra-op threads; 0 keeps libtorch's default.</summary>
    public int Threads { get; init; }
    public double GradClip { get; init; } = 1.0;
    public int LogEvery { get; init; } = 10;
    public int EvalEvery { get; init; } = 100;
    public int CheckpointEvery { get; init; } = 500;
    public int KeepLast { get; init; } = 2;
    public int KeepBest { get; init; } = 1;
    /// <summary>Eval metric keep-best ranks by (null: the objective's own: eval_accuracy for classify, else eval_loss).</summary>
    public string? BestMetric { get; init; }
    /// <summary>min or max for train.best_metric (null: inferred from its name: *loss* and *perplexity* min, *accuracy* and *f1* max).</summary>
    public string? BestMode { get; init; }
    /// <summary>Recompute the blocks' activations in backward instead of keeping them: less memory, ~⅓ more compute (docs/activation-checkpointing.md).</summary>
    public bool ActivationCheckpointing { get; init; }
    /// <summary>With activation_checkpointing: checkpoint every k-th block (blocks 0, k, 2k, …); 1 = every block.</summary>
    public int ActivationCheckpointingEvery { get; init; } = 1;
    /// <summary>A step whose loss or gradients are not finite: stop (the run ends naming the step) or skip (no update, counted).</summary>
    public string OnNonfinite { get; init; } = "stop";
    /// <summary>Consecutive skipped steps (on_nonfinite skip, or a loss scaler's) after which the run stops.</summary>
    public int MaxSkippedSteps { get; init; } = 50;
    /// <summary>Data parallel: seconds a collective may wait for every rank before the job is ended naming the missing rank(s).</summary>
    public double CollectiveTimeoutS { get; init; } = 600;
    /// <summary>Data parallel: 1 shards AdamW's moments over the ranks (ZeRO-1, docs/distributed.md "ZeRO-1"); 0 keeps all of them on every rank.</summary>
    public int Zero { get; init; }
}
