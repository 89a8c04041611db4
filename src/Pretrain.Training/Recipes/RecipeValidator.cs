using System.Globalization;
using System.Text.RegularExpressions;

namespace Pretrain.Training.Recipes;

/// <summary>
/// Value checks after binding: positive sizes, known kinds, ranges, and rules between keys. Every message names the
/// dotted key, where it was set (file:line or --set), what is allowed, and what it got ("the default" when the
/// recipe did not set it).
/// </summary>
internal sealed partial class RecipeValidator(string sourceName, IReadOnlyDictionary<string, string> locations)
{
    public static readonly string[] Archs = ["gpt2", "llama", "bert", "vit"];
    public static readonly string[] Objectives = ["clm", "mlm", "mae", "simclr", "simcse", "classify", "sft", "distill"];
    public static readonly string[] Probes = ["none", "linear", "knn", "both"];
    public static readonly string[] Pools = ["cls", "mean"];
    public static readonly string[] PosEmbeds = ["learned", "sincos"];
    public static readonly string[] Tokenizers = ["byte", "tiktoken", "wordpiece", "sentencepiece", "bpe", "hf-json"];
    public static readonly string[] TiktokenNames = ["gpt2", "r50k_base", "cl100k_base", "o200k_base"];
    public static readonly string[] Schedules = ["cosine", "linear", "constant"];
    public static readonly string[] Precisions = ["fp32", "bf16-mixed", "fp16-mixed", "bf16", "auto"];
    public static readonly string[] Optimizers = ["adamw"];
    public static readonly string[] SyntheticKinds = ["text", "labelled-text", "images", "sft"];
    public static readonly string[] BadDataActions = ["fail", "skip"];
    public static readonly string[] BestModes = ["min", "max"];

    private readonly List<string> _problems = [];

    public static void Validate(Recipe recipe, string sourceName, IReadOnlyDictionary<string, string> locations)
    {
        var validator = new RecipeValidator(sourceName, locations);
        validator.Check(recipe);
        if (validator._problems.Count > 0)
            throw new RecipeException(validator._problems);
    }

    private void Check(Recipe r)
    {
        if (!NameRegex().IsMatch(r.Name) || r.Name is "." or "..")
            Add("name", $"must be a folder-safe name (letters, digits, '.', '_', '-'; it names the run folder), got '{r.Name}'");
        CheckModel(r.Model);
        CheckObjective(r.Objective, r.Model);
        CheckTokenizer(r.Tokenizer);
        CheckData(r.Data);
        CheckPacking(r);
        if (r.Tokenizer.ChatTemplate is not null && r.Objective.Kind != "sft")
            Add("tokenizer.chat_template", $"shapes SFT rows; objective.kind '{r.Objective.Kind}' does not use it: remove it or use objective.kind sft");
        var mixKind = r.Objective.Kind == "distill" ? Tasks.DistillTask.BaseTask(r) : r.Objective.Kind;   // distill reads its hard task's data
        if (r.Data.Train.Mix is not null && mixKind is not ("clm" or "mlm"))
            Add("data.train.mix", $"is supported for objective.kind clm and mlm (packed text, also under distill); '{(r.Objective.Kind == "distill" ? $"distill of {mixKind}" : mixKind)}' reads one dataset: use data.train.files");
        CheckOptimizer(r.Optimizer);
        OneOf("schedule.kind", r.Schedule.Kind, Schedules);
        AtLeast("schedule.warmup_steps", r.Schedule.WarmupSteps, 0);
        InRange("schedule.min_lr_ratio", r.Schedule.MinLrRatio, "[0, 1]", x => x is >= 0 and <= 1);
        CheckTrain(r.Train, r.Model);
        CheckClassifySubset(r);
        if (r.Export is { } export)
        {
            if (export.Opset is < 17 or > 21)
                Add("export.opset", $"must be between 17 and 21, got {export.Opset}");
            OneOf("export.dtype", export.Dtype, ["fp32", "fp16"]);
            if (export.WithPast && r.Model.Arch is not ("gpt2" or "llama"))
                Add("export.with_past", $"applies to decoders (gpt2, llama), not model.arch '{r.Model.Arch}'");
        }
        if (r.Init is { } init && string.IsNullOrWhiteSpace(init.Checkpoint))
            Add("init.checkpoint", "must name a run folder, a step folder or an imported model folder");
        // MLM builds a fresh encoder: an init or lora section would be silently ignored (and the init's tokenizer used).
        if (r.Objective.Kind == "mlm" && (r.Init is not null || r.Lora is not null))
            Add(r.Init is not null ? "init" : "lora", "objective.kind mlm trains an encoder from random weights (continued MLM pretraining from a checkpoint is not supported yet); remove init and lora");
        if (r.Lora is { } lora)
        {
            if (r.Init is null)
                Add("lora", "needs init.checkpoint: adapters train on top of pretrained weights");
            if (lora.SaveFull && r.Objective.Kind is not ("clm" or "sft"))
                Add("lora.save_full", $"applies to decoder objectives (clm, sft); objective.kind '{r.Objective.Kind}' always saves the PEFT adapter and head — remove it");
            OneOf("lora.base_dtype", lora.BaseDtype, ["fp32", "bf16"]);
            if (lora.BaseDtype == "bf16" && r.Train.Precision is "fp32" or "fp16-mixed")
                Add("lora.base_dtype", $"bf16 needs bf16 compute: set train.precision to bf16-mixed (or bf16); got {r.Train.Precision}");
            if (lora.QuantizeBase is not ("none" or "int8" or "nf4"))
                Add("lora.quantize_base", $"must be none, int8 or nf4; got '{lora.QuantizeBase}'");
            else if (lora.QuantizeBase != "none" && (lora.SaveFull || r.Objective.Kind is not ("clm" or "sft")))
                Add("lora.quantize_base", "a quantized base is for decoder objectives (clm, sft) saving adapters only; drop lora.save_full or set quantize_base: none");
            if (lora.QuantizeBase != "none" && lora.BaseDtype != "fp32")
                Add("lora.base_dtype", $"a quantized base (lora.quantize_base: {lora.QuantizeBase}) replaces the base's dtype; set one of the two");
            AtLeast("lora.rank", lora.Rank, 1);
            Positive("lora.alpha", lora.Alpha);
            InRange("lora.dropout", lora.Dropout, "[0, 1)", x => x is >= 0 and < 1);
            if (lora.Targets.Count == 0)
                Add("lora.targets", "must name at least one projection, e.g. [q_proj, v_proj]");
            foreach (var t in lora.Targets.Where(t => !Pretrain.Models.Peft.LoraTargets.IsKnown(r.Model.Arch, t)))
                Add("lora.targets", $"'{t}' is not a projection name; one of {string.Join(", ", Pretrain.Models.Peft.LoraConfig.KnownTargets)}" +
                    (Archs.Contains(r.Model.Arch) ? $", or a Hugging Face {r.Model.Arch} module name ({string.Join(", ", Pretrain.Models.Peft.LoraTargets.HfNames(r.Model.Arch))})" : ""));
        }
    }

    private void CheckModel(ModelSection m)
    {
        OneOf("model.arch", m.Arch, Archs);
        if (m.VocabSize is { } vocab)
            AtLeast("model.vocab_size", vocab, 1);
        AtLeast("model.max_seq_len", m.MaxSeqLen, 1);
        AtLeast("model.embed_dim", m.EmbedDim, 1);
        AtLeast("model.num_layers", m.NumLayers, 1);
        bool headsOk = AtLeast("model.num_heads", m.NumHeads, 1);
        if (headsOk && m.EmbedDim >= 1 && m.EmbedDim % m.NumHeads != 0)
            Add("model.embed_dim", $"must be divisible by model.num_heads ({m.NumHeads}), got {Shown("model.embed_dim", m.EmbedDim)}");
        if (headsOk && m.Arch == "llama" && m.EmbedDim % m.NumHeads == 0 && m.EmbedDim / m.NumHeads % 2 != 0)
            Add("model.embed_dim", $"divided by model.num_heads must be even for RoPE (llama), got head size {m.EmbedDim / m.NumHeads}");
        if (m.NumKvHeads is { } kv && AtLeast("model.num_kv_heads", kv, 1) && headsOk && m.NumHeads % kv != 0)
            Add("model.num_kv_heads", $"must divide model.num_heads ({m.NumHeads}), got {kv}");
        if (m.MlpHiddenDim is { } mlp)
            AtLeast("model.mlp_hidden_dim", mlp, 1);
        InRange("model.dropout", m.Dropout, "[0, 1)", x => x is >= 0 and < 1);
        if (m.NormEps is { } eps)
            Positive("model.norm_eps", eps);
        if (m.AttentionDropout is { } ad)
            InRange("model.attention_dropout", ad, "[0, 1)", x => x is >= 0 and < 1);
        AtLeast("model.type_vocab_size", m.TypeVocabSize, 0);
        if (m.Arch == "vit")
        {
            bool sizes = AtLeast("model.image_size", m.ImageSize, 1) & AtLeast("model.patch_size", m.PatchSize, 1);
            if (sizes && m.ImageSize % m.PatchSize != 0)
                Add("model.image_size", $"must be a multiple of model.patch_size ({m.PatchSize}), got {Shown("model.image_size", m.ImageSize)}");
            AtLeast("model.channels", m.Channels, 1);
            OneOf("model.global_pool", m.GlobalPool, Pools);
            OneOf("model.pos_embed", m.PosEmbed, PosEmbeds);
        }
        Positive("model.rope_theta", m.RopeTheta);
    }

    private void CheckObjective(ObjectiveSection o, ModelSection m)
    {
        if (!OneOf("objective.kind", o.Kind, Objectives)) return;
        string[] fits = o.Kind switch
        {
            "clm" or "sft" => ["gpt2", "llama"],
            "mlm" or "simcse" => ["bert"],
            "classify" => ["bert", "vit"],
            "distill" => ["gpt2", "llama", "bert"],
            _ => ["vit"],
        };
        if (!fits.Contains(m.Arch))
            Add("objective.kind", $"'{o.Kind}' trains model.arch {string.Join(" or ", fits)}, but model.arch is '{m.Arch}'");
        if (o.Kind == "simcse" && m.Dropout <= 0)
            Add("model.dropout", $"is SimCSE's only augmentation (the two passes differ by dropout alone); set it above 0 (the paper: 0.1), got {Shown("model.dropout", m.Dropout)}");
        InRange("objective.mask_probability", o.MaskProbability, "(0, 1)", x => x is > 0 and < 1);
        InRange("objective.mask_ratio", o.MaskRatio, "(0, 1)", x => x is > 0 and < 1);
        AtLeast("objective.decoder_dim", o.DecoderDim, 1);
        AtLeast("objective.decoder_layers", o.DecoderLayers, 0);
        if (AtLeast("objective.decoder_heads", o.DecoderHeads, 1) && o.DecoderDim % o.DecoderHeads != 0)
            Add("objective.decoder_dim", $"must be divisible by objective.decoder_heads ({o.DecoderHeads}), got {Shown("objective.decoder_dim", o.DecoderDim)}");
        if (o.Temperature is { } t)
            Positive("objective.temperature", t);
        AtLeast("objective.projection_dim", o.ProjectionDim, 1);
        OneOf("objective.pooling", o.Pooling, Pools);
        AtLeast("objective.num_classes", o.NumClasses, 2);
        OneOf("objective.probe", o.Probe, Probes);
        AtLeast("objective.probe_train_rows", o.ProbeTrainRows, 1);
        AtLeast("objective.probe_eval_rows", o.ProbeEvalRows, 1);
        AtLeast("objective.exact_match_rows", o.ExactMatchRows, 0);
        CheckDistill(o, m);
    }

    private void CheckDistill(ObjectiveSection o, ModelSection m)
    {
        if (o.Kind != "distill")
        {
            foreach (var (key, set) in new[] { ("objective.teacher", o.Teacher is not null), ("objective.task", o.Task is not null), ("objective.student_init", o.StudentInit != "random"),
                ("objective.hidden_weight", o.HiddenWeight != 0), ("objective.attention_weight", o.AttentionWeight != 0), ("objective.layer_map", o.LayerMap is not null), ("objective.teacher_dtype", o.TeacherDtype is not null) })
            {
                if (set)
                    Add(key, $"applies to objective.kind distill, not '{o.Kind}'; remove it");
            }
            return;
        }
        if (string.IsNullOrWhiteSpace(o.Teacher))
            Add("objective.teacher", "is required for objective.kind distill: the frozen teacher's run folder, step folder or imported folder");
        InRange("objective.alpha", o.Alpha, "[0, 1]", x => x is >= 0 and <= 1);
        OneOf("objective.student_init", o.StudentInit, ["random", "teacher_layers"]);
        InRange("objective.hidden_weight", o.HiddenWeight, ">= 0", x => x >= 0 && double.IsFinite(x));
        InRange("objective.attention_weight", o.AttentionWeight, ">= 0", x => x >= 0 && double.IsFinite(x));
        if (o.LayerMap is { } map)
        {
            if (o.HiddenWeight == 0)
                Add("objective.layer_map", "maps hidden states, which objective.hidden_weight 0 turns off; set objective.hidden_weight above 0 or remove it");
            if (map.Count == 0 || map.Any(l => l < 1))
                Add("objective.layer_map", $"lists one teacher layer (1 = the first block's output) per student layer, e.g. [2, 4, 6]; got [{string.Join(", ", map)}]");
        }
        if (o.TeacherDtype is { } dtype)
            OneOf("objective.teacher_dtype", dtype, ["float32", "bf16"]);
        if (o.AttentionWeight > 0 && m.Arch is "gpt2" or "llama")
            Add("objective.attention_weight", $"transfers an encoder's self-attention (MiniLM); model.arch '{m.Arch}' is a decoder: use objective.hidden_weight");
        if (o.Task is { } task && OneOf("objective.task", task, ["clm", "mlm", "classify"])
            && (task == "clm") != (m.Arch is "gpt2" or "llama"))
            Add("objective.task", $"'{task}' does not train model.arch '{m.Arch}': clm distils decoders (gpt2, llama), mlm and classify distil bert");
    }

    private void CheckTokenizer(TokenizerSection t)
    {
        if (OneOf("tokenizer.kind", t.Kind, Tokenizers) && t.Kind == "tiktoken")
        {
            if (t.Name is null)
                Add("tokenizer.name", $"is required when tokenizer.kind is tiktoken; one of {string.Join(", ", TiktokenNames)}");
            else
                OneOf("tokenizer.name", t.Name, TiktokenNames);
        }
        if (t.Kind is "wordpiece" or "sentencepiece" or "bpe" or "hf-json" && string.IsNullOrWhiteSpace(t.Path))
            Add("tokenizer.path", $"is required when tokenizer.kind is {t.Kind} (the tokenizer's file or folder)");
        if (t.EosToken.Length == 0)
            Add("tokenizer.eos_token", "must not be empty");
        if (t.ChatTemplate is not null)
            OneOf("tokenizer.chat_template", t.ChatTemplate, [.. Pretrain.Data.Text.ChatTemplate.Names]);
    }

    private void CheckData(DataSection d)
    {
        CheckSplit("data.train", d.Train, isEval: false);
        if (d.Eval is not null)
            CheckSplit("data.eval", d.Eval, isEval: true);
        AtLeast("data.prefetch", d.Prefetch, 1);
        OneOf("data.on_bad_data", d.OnBadData, BadDataActions);
        InRange("data.timeout_s", d.TimeoutS, "> 0", x => x > 0 && !double.IsNaN(x));
        if (d.Train.Mix is not null && d.Eval?.Fraction is not null)
            Add("data.eval.fraction", "cannot hold rows out of a data.train.mix; give data.eval its own files (or synthetic)");
        CheckAugment(d.Augment);
    }

    /// <summary>Packing and order keys: shuffle_window (every train stream), document_mask (clm only).</summary>
    private void CheckPacking(Recipe r)
    {
        var d = r.Data;
        AtLeast("data.train.shuffle_window", d.Train.ShuffleWindow, 1);
        if (d.Eval is { ShuffleWindow: not 1 })
            Add("data.eval.shuffle_window", "applies to data.train only (eval is read once, in file order); remove it here");
        if (d.DocumentMask && r.Objective.Kind != "clm")
            Add("data.document_mask", $"applies to objective.kind clm (packed causal LM), not '{r.Objective.Kind}'; remove it");
    }

    private void CheckAugment(AugmentSection a)
    {
        if (a.CropScale is { } c && (c.Count != 2 || !(c[0] > 0 && c[0] <= c[1] && c[1] <= 1)))
            Add("data.augment.crop_scale", $"must be [min, max] with 0 < min <= max <= 1, got [{string.Join(", ", c)}]");
        if (a.HorizontalFlip is { } f)
            InRange("data.augment.horizontal_flip", f, "[0, 1]", x => x is >= 0 and <= 1);
        if (a.ColorJitter is { } j)
            InRange("data.augment.color_jitter", j, "[0, 2.5]", x => x is >= 0 and <= 2.5);
        if (a.Grayscale is { } g)
            InRange("data.augment.grayscale", g, "[0, 1]", x => x is >= 0 and <= 1);
        if ((a.Mean is null) != (a.Std is null))
            Add(a.Mean is null ? "data.augment.std" : "data.augment.mean", "needs data.augment.mean and data.augment.std together");
        else if (a.Mean is { } m && a.Std is { } s && (m.Count == 0 || s.Count != m.Count || s.Any(x => x <= 0)))
            Add("data.augment.std", "must be positive, with as many values as data.augment.mean (1 or one per channel)");
    }

    private void CheckSplit(string path, DataSplit s, bool isEval)
    {
        int sources = (s.Files is null ? 0 : 1) + (s.Synthetic is null ? 0 : 1) + (s.Fraction is null ? 0 : 1) + (s.Mix is null ? 0 : 1);
        string choices = isEval ? "files, synthetic or fraction" : "files or synthetic";
        if (sources != 1)
        {
            string got = sources == 0 ? "none" : string.Join(" and ", new[]
            {
                s.Files is null ? null : "files", s.Synthetic is null ? null : "synthetic", s.Fraction is null ? null : "fraction",
                s.Mix is null ? null : "mix",
            }.OfType<string>());
            Add(path, $"needs exactly one of {choices}; got {got}" + (isEval ? "" : " (or mix alone: several datasets by weight)"));
        }
        if (s.Files is { } files)
        {
            if (files.Count == 0)
                Add($"{path}.files", "must list at least one file or glob");
            foreach (var (file, i) in files.Select((f, i) => (f, i)))
            {
                if (string.IsNullOrWhiteSpace(file))
                    Add($"{path}.files", $"item {i} is empty; give a path or glob");
            }
        }
        if (s.Synthetic is { } syn)
            CheckSynthetic($"{path}.synthetic", syn);
        if (s.Mix is { } mix)
        {
            if (isEval)
                Add($"{path}.mix", "applies to data.train only; give data.eval files, synthetic or fraction");
            if (mix.Count == 0)
                Add($"{path}.mix", "must list at least one component, e.g. [{files: [a.parquet], weight: 0.7}, {files: [b.parquet], weight: 0.3}]");
            for (int i = 0; i < mix.Count; i++)
            {
                string item = $"{path}.mix[{i}]";
                var c = mix[i];
                if ((c.Files is null) == (c.Synthetic is null))
                    Add(item, $"needs exactly one of files or synthetic; got {(c.Files is null ? "none" : "both")}");
                if (c.Files is { Count: 0 })
                    Add($"{item}.files", "must list at least one file or glob");
                if (c.Synthetic is { } cs)
                    CheckSynthetic($"{item}.synthetic", cs);
                InRange($"{item}.weight", c.Weight, "> 0", x => x > 0 && double.IsFinite(x));
            }
        }
        if (s.TextColumn.Length == 0)
            Add($"{path}.text_column", "must not be empty");
        if (s.PromptColumn.Length == 0)
            Add($"{path}.prompt_column", "must not be empty");
        if (s.ResponseColumn.Length == 0)
            Add($"{path}.response_column", "must not be empty");
        if (isEval)
        {
            if (s.Fraction is { } f)
                InRange($"{path}.fraction", f, "(0, 1)", x => x is > 0 and < 1);
            AtLeast($"{path}.max_batches", s.MaxBatches, 0);
        }
        else
        {
            if (s.Fraction is not null)
                Add($"{path}.fraction", "applies to data.eval only (the share of train rows held out); remove it here");
            if (s.MaxBatches != 0)
                Add($"{path}.max_batches", "applies to data.eval only; remove it here");
        }
        if (s.LabelFraction is { } lf)
        {
            if (isEval)
                Add($"{path}.label_fraction", "applies to data.train only (the share of labelled rows trained on); remove it here");
            else
                InRange($"{path}.label_fraction", lf, "(0, 1]", x => x is > 0 and <= 1);
        }
    }

    private void CheckSynthetic(string path, SyntheticSection syn)
    {
        OneOf($"{path}.kind", syn.Kind, SyntheticKinds);
        AtLeast($"{path}.rows", syn.Rows, 1);
        AtLeast($"{path}.shards", syn.Shards, 1);
        AtLeast($"{path}.rows_per_group", syn.RowsPerGroup, 1);
    }

    private void CheckOptimizer(OptimizerSection o)
    {
        OneOf("optimizer.name", o.Name, Optimizers);
        Positive("optimizer.lr", o.Lr);
        if (o.Betas.Count != 2 || o.Betas.Any(b => b is not (>= 0 and < 1)))
        {
            string got = "[" + string.Join(", ", o.Betas.Select(b => b.ToString(CultureInfo.InvariantCulture))) + "]";
            Add("optimizer.betas", $"must be two numbers in [0, 1), e.g. [0.9, 0.95]; got {got}");
        }
        Positive("optimizer.eps", o.Eps);
        InRange("optimizer.weight_decay", o.WeightDecay, ">= 0", x => x >= 0 && double.IsFinite(x));
    }

    private void CheckTrain(TrainSection t, ModelSection m)
    {
        AtLeast("train.max_steps", t.MaxSteps, 1);
        if (AtLeast("train.seq_len", t.SeqLen, 2) && m.MaxSeqLen >= 1 && t.SeqLen > m.MaxSeqLen)
        {
            Add("train.seq_len", $"must be at most model.max_seq_len ({m.MaxSeqLen}), got {Shown("train.seq_len", t.SeqLen)}; "
                + "lower train.seq_len or raise model.max_seq_len");
        }
        AtLeast("train.micro_batch_size", t.MicroBatchSize, 1);
        AtLeast("train.grad_accum_steps", t.GradAccumSteps, 1);
        OneOf("train.precision", t.Precision, Precisions);
        if (!DeviceRegex().IsMatch(t.Device))
            Add("train.device", $"must be auto (cuda when available, else cpu), cpu, cuda or cuda:N (N a GPU index), got '{t.Device}'");
        AtLeast("train.threads", t.Threads, 0);
        InRange("train.grad_clip", t.GradClip, ">= 0", x => x >= 0 && double.IsFinite(x));
        AtLeast("train.log_every", t.LogEvery, 1);
        AtLeast("train.eval_every", t.EvalEvery, 1);
        AtLeast("train.checkpoint_every", t.CheckpointEvery, 1);
        AtLeast("train.keep_last", t.KeepLast, 1);
        AtLeast("train.keep_best", t.KeepBest, 0);
        OneOf("train.on_nonfinite", t.OnNonfinite, ["stop", "skip"]);
        AtLeast("train.max_skipped_steps", t.MaxSkippedSteps, 1);
        InRange("train.collective_timeout_s", t.CollectiveTimeoutS, "> 0 and at most 86400 (a day)", x => x > 0 && x <= 86400);
        // ZeRO-1 shards the flat AdamW's moments, which every objective (LoRA too) trains with; at world size 1 it is a no-op.
        InRange("train.zero", t.Zero, "0 (every rank keeps all optimizer state) or 1 (ZeRO-1: each rank keeps its shard's)", x => x is 0 or 1);
        if (t.BestMetric is { } metric && !metric.StartsWith("eval_", StringComparison.Ordinal))
            Add("train.best_metric", $"must name an eval metric (eval_loss, eval_accuracy, eval_macro_f1, …), got '{metric}'");
        if (t.BestMode is { } mode)
        {
            OneOf("train.best_mode", mode, BestModes);
            if (t.BestMetric is null)
                Add("train.best_mode", "needs train.best_metric (the objective's own metric has a fixed direction)");
        }
        else if (t.BestMetric is { } m2 && m2.StartsWith("eval_", StringComparison.Ordinal) && InferBestMode(m2) is null)
        {
            Add("train.best_mode", $"is needed for train.best_metric '{m2}': say min (lower is better) or max");
        }
        if (AtLeast("train.activation_checkpointing_every", t.ActivationCheckpointingEvery, 1)
            && t.ActivationCheckpointingEvery != 1 && !t.ActivationCheckpointing)
            Add("train.activation_checkpointing_every", "has no effect without train.activation_checkpointing: true; set that too, or remove this key");
    }

    /// <summary>min for *loss* and *perplexity*/*ppl* metrics, max for *accuracy* and *f1*; null when the name does not say.</summary>
    public static string? InferBestMode(string metric) =>
        metric.Contains("loss", StringComparison.Ordinal) || metric.Contains("perplexity", StringComparison.Ordinal)
            || metric.EndsWith("_ppl", StringComparison.Ordinal) ? "min"
        : metric.Contains("accuracy", StringComparison.Ordinal) || metric.Contains("f1", StringComparison.Ordinal) ? "max"
        : null;

    // label_fraction picks a subset of labelled rows: only the classify objective reads labels for training.
    private void CheckClassifySubset(Recipe r)
    {
        if (r.Data.Train.LabelFraction is not null && r.Objective.Kind != "classify")
            Add("data.train.label_fraction", $"applies to objective.kind classify (a subset of labelled rows to fine-tune on), not '{r.Objective.Kind}'; remove it");
    }

    private bool AtLeast(string key, int value, int min)
    {
        if (value >= min)
            return true;
        Add(key, $"must be at least {min}, got {Shown(key, value)}");
        return false;
    }

    private void Positive(string key, double value) =>
        InRange(key, value, "> 0", x => x > 0 && double.IsFinite(x));

    // The predicate is written so NaN fails it.
    private void InRange(string key, double value, string range, Func<double, bool> ok)
    {
        if (!ok(value))
            Add(key, $"must be {(range.StartsWith('[') || range.StartsWith('(') ? "in " : "")}{range}, got {Shown(key, value)}");
    }

    private bool OneOf(string key, string value, string[] allowed)
    {
        if (allowed.Contains(value, StringComparer.Ordinal))
            return true;
        Add(key, $"must be one of {string.Join(", ", allowed)}; got '{value}'");
        return false;
    }

    private string Shown(string key, object value)
    {
        string text = value is double d ? d.ToString(CultureInfo.InvariantCulture) : Convert.ToString(value, CultureInfo.InvariantCulture)!;
        return locations.ContainsKey(key) ? text : $"{text} (the default)";
    }

    private void Add(string key, string message) =>
        _problems.Add($"{(locations.TryGetValue(key, out string? where) ? where : sourceName)}: {key} {message}");

    [GeneratedRegex("^[A-Za-z0-9._-]+$")]
    private static partial Regex NameRegex();

    [GeneratedRegex("^(auto|cpu|cuda(:[0-9]+)?)$")]
    private static partial Regex DeviceRegex();
}
