using Pretrain.Data.Datasets;
using Pretrain.Data.Sampling;
using Pretrain.Data.Text;
using Pretrain.Models.Heads;
using Pretrain.Models.Text;
using Pretrain.Models.Weights;
using Pretrain.Training.Objectives;
using Pretrain.Training.Recipes;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Training.Tasks;

/// <summary>
/// BERT-style masked-LM pretraining of an <see cref="EncoderLm"/> (Devlin et al. 2019): packed text cut into
/// [CLS] … [SEP] sequences, 15% of tokens chosen (80/10/10), loss on the chosen tokens only. The corruption of a
/// sequence is seeded by its data position, so resume reproduces it exactly.
/// </summary>
public sealed class MaskedLmTask : IDistillableTask
{
    private readonly EncoderLm _encoder;
    private readonly MlmHead _head;
    private readonly TaskModule _module;
    private readonly ITextTokenizer _tokenizer;
    private readonly MlmMasking _masking;
    private readonly WordBoundaries _words;
    private readonly int _cls, _sep, _seed;
    private readonly Func<DataCursor?, ISampleStream<int[]>> _openTrain;
    private readonly Func<PackedTextStream>? _openEval;
    private readonly Device _device;
    private DataCursor? _cursor;
    private ISampleStream<int[]>? _train;

    private MaskedLmTask(EncoderLm encoder, ITextTokenizer tokenizer, MlmMasking masking, bool wholeWord, int seed,
        Func<DataCursor?, ISampleStream<int[]>> openTrain, Func<PackedTextStream>? openEval, Device device, DataCursor? resume)
    {
        var specials = (ISpecialTokens)tokenizer;
        _encoder = encoder;
        _head = new MlmHead(encoder);
        _head.InitializeWeights(seed + 1);
        _head.to(device);
        _module = new TaskModule(("encoder", encoder), ("mlm_head", _head));
        _tokenizer = tokenizer;
        _masking = masking;
        _words = new WordBoundaries(tokenizer, wholeWord);
        _cls = specials.ClsId!.Value;
        _sep = specials.SepId!.Value;
        _seed = seed;
        _openTrain = openTrain;
        _openEval = openEval;
        _device = device;
        _cursor = resume;
    }

    public static MaskedLmTask Build(TaskContext ctx)
    {
        var recipe = ctx.Recipe;
        var tokenizer = ctx.Tokenizer;
        if (tokenizer is not ISpecialTokens { MaskId: { } mask, ClsId: not null, SepId: not null })
            throw new RecipeException("objective.kind mlm needs [CLS], [SEP] and [MASK] tokens: use a wordpiece vocabulary, or add tokenizer.special_tokens: ['[CLS]', '[SEP]', '[MASK]', '[PAD]'] (byte/bpe).");
        var encoder = new EncoderLm(EncoderConfig(recipe.Model, tokenizer), checkpointing: ctx.ActivationCheckpointing);
        encoder.InitializeWeights(recipe.Train.Seed);
        encoder.to(ctx.Device);
        var masking = new MlmMasking
        {
            MaskProbability = recipe.Objective.MaskProbability,
            WholeWord = recipe.Objective.WholeWord,
            MaskId = mask,
            RandomVocab = tokenizer.VocabSize,
        };
        int content = recipe.Train.SeqLen - 2;   // room for [CLS] and [SEP]
        var trainOptions = ctx.TrainText(content);
        var evalOptions = ctx.EvalText(content);
        return new MaskedLmTask(encoder, tokenizer, masking, recipe.Objective.WholeWord, recipe.Train.Seed,
            cursor => ctx.OpenTrainText(trainOptions.BlockSize, tokenizer, cursor),   // one stream, or data.train.mix
            evalOptions is null ? null : () => new PackedTextStream(evalOptions, tokenizer),
            ctx.Device, ctx.ResumeCursor);
    }

    /// <summary>Maps the recipe's model section to a BERT-style encoder config.</summary>
    public static EncoderLmConfig EncoderConfig(ModelSection m, ITextTokenizer tokenizer)
    {
        var config = new EncoderLmConfig
        {
            VocabSize = TaskModels.VocabSize(m, tokenizer),
            MaxSeqLen = m.MaxSeqLen,
            TypeVocabSize = m.TypeVocabSize,
            EmbedDim = m.EmbedDim,
            NumLayers = m.NumLayers,
            NumHeads = m.NumHeads,
            MlpHiddenDim = m.MlpHiddenDim,
            Dropout = m.Dropout,
            AttentionDropout = m.AttentionDropout ?? m.Dropout,
            NormEps = m.NormEps ?? 1e-12,
            PostNorm = m.PostNorm,
        };
        TaskModels.Validate(config.Validate);
        return config;
    }

    public nn.Module Model => _module;
    public string Describe => $"bert encoder ({(_encoder.Config.PostNorm ? "post" : "pre")}-LN) + MLM head, {_encoder.ParameterCount() / 1e6:F2}M parameters, vocab {_encoder.Config.VocabSize}";
    public bool HasEval => _openEval is not null;
    public string BestMetric => "eval_loss";
    public string CursorJson => (_cursor ?? DataCursor.Start(0, 1)).ToJson();

    public IReadOnlyList<MicroBatch> NextStep(int gradAccumSteps, int microBatchSize)
    {
        _train ??= _openTrain(_cursor);
        var micro = new List<MicroBatch>(gradAccumSteps);
        for (int m = 0; m < gradAccumSteps; m++)
        {
            var rows = new List<Masked>(microBatchSize);
            while (rows.Count < microBatchSize)
            {
                if (!_train.TryNext(out var block, out var after))
                    throw new InvalidOperationException("The training stream ended; training streams are endless.");
                rows.Add(Corrupt(block, after));
                _cursor = after;
            }
            micro.Add(new MicroBatch(rows, rows.Sum(r => (long)r.Chosen), rows.Sum(r => (long)r.Inputs.Length)));
        }
        return micro;
    }

    public Tensor LossSum(MicroBatch batch)
    {
        var (inputs, labels) = Collate((List<Masked>)batch.Samples);
        return Loss(inputs, labels).Sum;
    }

    /// <summary>Mean loss, perplexity and accuracy over the masked tokens of the eval split.</summary>
    public Dictionary<string, double> Evaluate(int microBatchSize, int maxBatches)
    {
        using var stream = _openEval!();
        return TokenEval.Run(stream, microBatchSize, maxBatches, Corrupt, rows =>
        {
            var (inputs, labels) = Collate(rows);
            var (sum, logits, targets) = Loss(inputs, labels);
            return (sum.item<float>(), logits.argmax(-1).eq(targets).sum().item<long>(), targets.shape[0]);
        });
    }

    private readonly Dictionary<nn.Module, (EncoderLm Encoder, MlmHead Head)> _teachers = [];

    /// <summary>An encoder with its MLM head (cls.predictions.*) from a BERT checkpoint, frozen, named as <see cref="Model"/>.</summary>
    public nn.Module LoadTeacher(string directory)
    {
        var encoder = new EncoderLm(ClassifierCheckpoint.ReadEncoderConfig(directory));
        var head = new MlmHead(encoder);
        using (NewDisposeScope())
            HfEncoderLayout.LoadHf(encoder, Safetensors.Load(Path.Combine(directory, "model.safetensors")), head);
        var teacher = new TaskModule(("encoder", encoder), ("mlm_head", head));
        teacher.to(_device);
        _teachers[teacher] = (encoder, head);
        return TeacherModules.Freeze(teacher);
    }

    /// <summary>Logits (M, V) and targets (M,) at the chosen (masked) positions, as the loss scores them.</summary>
    public (Tensor Logits, Tensor Targets) Logits(nn.Module model, MicroBatch batch, Pretrain.Models.Modules.LayerCapture? capture = null)
    {
        var (encoder, head) = ReferenceEquals(model, _module) ? (_encoder, _head) : _teachers[model];
        var (inputs, labels) = Collate((List<Masked>)batch.Samples);
        var hidden = capture is null ? encoder.call(inputs, null, null) : encoder.forward(inputs, null, null, capture);   // (B, T, C)
        var flat = labels.view(-1);
        var positions = flat.ne(MlmMasking.Ignore).nonzero().view(-1);   // (M,)
        return (head.call(hidden, positions), flat.index_select(0, positions));
    }

    public (int Layers, int Width, int Heads) Shape(nn.Module model)
    {
        var c = (ReferenceEquals(model, _module) ? _encoder : _teachers[model].Encoder).Config;
        return (c.NumLayers, c.EmbedDim, c.NumHeads);
    }

    public void SaveModel(string directory)
    {
        using (NewDisposeScope())
            Safetensors.Save(Path.Combine(directory, "model.safetensors"), HfEncoderLayout.ToHf(_encoder, _head),
                new Dictionary<string, string> { ["format"] = "pt" });
        var config = HfEncoderLayout.ConfigJson(_encoder.Config);
        config["architectures"] = new System.Text.Json.Nodes.JsonArray("BertForMaskedLM");
        File.WriteAllText(Path.Combine(directory, "config.json"), config.ToJsonString(TrainerState.Json));
        _tokenizer.Save(Path.Combine(directory, "tokenizer"));
    }

    public void LoadModel(string directory)
    {
        using (NewDisposeScope())
            HfEncoderLayout.LoadHf(_encoder, Safetensors.Load(Path.Combine(directory, "model.safetensors")), _head);
    }

    public void Dispose()
    {
        _train?.Dispose();
        _module.Dispose();
    }

    private sealed record Masked(long[] Inputs, long[] Labels, int Chosen);

    /// <summary>[CLS] content [SEP], corrupted with an RNG seeded by the block's data position.</summary>
    private Masked Corrupt(int[] block, DataCursor after)
    {
        int n = block.Length - 1;                 // packed blocks overlap by one token; use the first n
        var ids = new int[n + 2];
        ids[0] = _cls;
        Array.Copy(block, 0, ids, 1, n);
        ids[^1] = _sep;
        var maskable = new bool[ids.Length];
        for (int i = 1; i <= n; i++) maskable[i] = !_words.IsSpecial(ids[i]);
        ulong h = StableHash.Combine((ulong)_seed, (ulong)after.Epoch, (ulong)after.SampleInEpoch, (ulong)after.PendingTokens.Length);
        var rng = new Random(unchecked((int)h));
        var (inputs, labels, chosen) = _masking.Apply(ids, maskable, _words.Starts(ids), rng, _words.IsSpecial);
        return new Masked(inputs, labels, chosen);
    }

    private (Tensor Inputs, Tensor Labels) Collate(List<Masked> rows)
    {
        int b = rows.Count, t = rows[0].Inputs.Length;
        var inputs = new long[b * t];
        var labels = new long[b * t];
        for (int i = 0; i < b; i++)
        {
            Array.Copy(rows[i].Inputs, 0, inputs, i * t, t);
            Array.Copy(rows[i].Labels, 0, labels, i * t, t);
        }
        return (tensor(inputs, [b, t]).to(_device), tensor(labels, [b, t]).to(_device));
    }

    /// <summary>Cross-entropy summed over chosen positions only (the head runs on those rows alone).</summary>
    private (Tensor Sum, Tensor Logits, Tensor Targets) Loss(Tensor inputs, Tensor labels)
    {
        var hidden = _encoder.call(inputs, null, null);                   // (B, T, C)
        var flat = labels.view(-1);
        var positions = flat.ne(MlmMasking.Ignore).nonzero().view(-1);   // (M,)
        var targets = flat.index_select(0, positions);                    // (M,)
        var logits = _head.call(hidden, positions);                       // (M, V)
        return (nn.functional.cross_entropy(logits, targets, reduction: nn.Reduction.Sum), logits, targets);
    }
}
