using System.Text.Json.Nodes;
using Pretrain.Data.Datasets;
using Pretrain.Data.Sampling;
using Pretrain.Data.Text;
using Pretrain.Models.Text;
using Pretrain.Models.Weights;
using Pretrain.Training.Distributed;
using Pretrain.Training.Objectives;
using Pretrain.Training.Recipes;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Training.Tasks;

/// <summary>
/// Unsupervised SimCSE (Gao et al. 2021, §3) of a BERT-style <see cref="EncoderLm"/>: each row (a sentence or
/// paragraph, truncated to train.seq_len) is encoded twice with dropout on — dropout is the only augmentation — and
/// the two pooled embeddings are a positive pair; the other rows of the micro-batch are the negatives (InfoNCE,
/// τ 0.05 by default, through <see cref="ContrastiveLoss.InfoNce"/>, the core SimCLR shares). objective.pooling cls
/// adds the paper's training-only MLP (dense + tanh) over [CLS]; mean pooling uses none. Usually initialised from
/// init.checkpoint (an MLM run or an imported encoder); model.dropout sets the noise, also over an init checkpoint.
/// Eval (dropout noise seeded, so comparable over time): eval_loss, eval_alignment and eval_uniformity (Wang &amp;
/// Isola 2020) on held-out rows, then the probes (objective.probe) when the data has labels.
/// </summary>
public sealed class SimCseTask : ITrainingTask
{
    private const string MlpFile = "simcse_mlp.safetensors";

    private readonly EncoderLm _encoder;
    private readonly nn.Module<Tensor, Tensor>? _mlp;
    private readonly TaskModule _module;
    private readonly ITextTokenizer _tokenizer;
    private readonly string _pooling;
    private readonly double _temperature;
    private readonly int _seed, _seqLen, _cls, _sep, _pad;
    private readonly Func<DataCursor?, LabelledTextStream> _openTrain;
    private readonly Func<LabelledTextStream>? _openEval;
    private readonly TextDataProbe? _probe;
    private readonly Device _device;
    private readonly string? _initDir;
    private DataCursor? _cursor;
    private LabelledTextStream? _train;
    private CrossRankBatch? _ranks;

    private SimCseTask(EncoderLm encoder, nn.Module<Tensor, Tensor>? mlp, ITextTokenizer tokenizer, string pooling, double temperature,
        int seed, int seqLen, Func<DataCursor?, LabelledTextStream> openTrain, Func<LabelledTextStream>? openEval,
        TextDataProbe? probe, Device device, string? initDir, DataCursor? resume)
    {
        var specials = (ISpecialTokens)tokenizer;
        (_encoder, _mlp, _tokenizer, _pooling, _temperature) = (encoder, mlp, tokenizer, pooling, temperature);
        _module = mlp is null ? new TaskModule(("encoder", encoder)) : new TaskModule(("encoder", encoder), ("mlp", mlp));
        (_seed, _seqLen, _openTrain, _openEval, _probe, _device, _initDir, _cursor) =
            (seed, seqLen, openTrain, openEval, probe, device, initDir, resume);
        (_cls, _sep, _pad) = (specials.ClsId!.Value, specials.SepId!.Value, specials.PadId!.Value);
    }

    /// <summary>Builds the encoder (from init.checkpoint or random), the MLP and the text streams from the recipe.</summary>
    public static SimCseTask Build(TaskContext ctx)
    {
        var r = ctx.Recipe;
        var o = r.Objective;
        if (r.Lora is not null)
            throw new RecipeException("objective.kind simcse trains the whole encoder; remove the lora section.");
        var tokenizer = ctx.Tokenizer;
        if (tokenizer is not ISpecialTokens { ClsId: not null, SepId: not null, PadId: not null })
            throw new RecipeException("objective.kind simcse needs [CLS], [SEP] and [PAD] tokens: use a wordpiece vocabulary (or the init checkpoint's tokenizer), or add tokenizer.special_tokens: ['[CLS]', '[SEP]', '[PAD]'].");
        var config = ctx.InitDir is { } init
            ? ClassifierCheckpoint.ReadEncoderConfig(init) with { Dropout = r.Model.Dropout, AttentionDropout = r.Model.AttentionDropout ?? r.Model.Dropout }
            : MaskedLmTask.EncoderConfig(r.Model, tokenizer);
        if (r.Train.SeqLen > config.MaxSeqLen)
            throw new RecipeException($"train.seq_len ({r.Train.SeqLen}) exceeds the encoder's {config.MaxSeqLen} positions{(ctx.InitDir is null ? "" : $" ({ctx.InitDir}/config.json)")}; lower train.seq_len.");
        var encoder = new EncoderLm(config, checkpointing: ctx.ActivationCheckpointing);
        encoder.InitializeWeights(r.Train.Seed);
        if (ctx.InitDir is { } dir)
        {
            var path = Path.Combine(dir, "model.safetensors");
            if (!File.Exists(path))
                throw new RecipeException($"init.checkpoint {dir} has no model.safetensors (an adapter-only LoRA run?). Start from a full checkpoint or an imported model.");
            using (NewDisposeScope())
                HfEncoderLayout.LoadHf(encoder, Safetensors.Load(path));   // heads in the file (cls.*, classifier.*) are skipped
        }
        var mlp = o.Pooling == "cls" ? Mlp(config.EmbedDim, r.Train.Seed + 2) : null;
        encoder.to(ctx.Device);
        mlp?.to(ctx.Device);

        var files = ctx.Files;
        LabelledTextOptions Options(IReadOnlyList<string> f, DataSplit split, string key, bool labels) => new()
        {
            Files = f,
            TextColumn = split.TextColumn,
            LabelColumn = labels ? split.LabelColumn : null,
            MaxTokens = r.Train.SeqLen - 2,   // room for [CLS] and [SEP]
            Seed = r.Train.Seed,
            Prefetch = Math.Max(r.Data.Prefetch, r.Train.MicroBatchSize * r.Train.GradAccumSteps),
            ConfigKey = key,            BadData = ctx.BadData,
            Timeout = ctx.DataTimeout,
        };
        LabelledTextOptions Train(bool labels) =>
            Options(files.Train, r.Data.Train, "data.train", labels) with
            {
                HoldoutFraction = ctx.Holdout,
                HoldoutSide = false,
                ShuffleWindow = r.Data.Train.ShuffleWindow,
            };
        LabelledTextOptions? Eval(bool labels) => r.Data.Eval is null ? null
            : Options(files.Eval ?? files.Train, files.Eval is null ? r.Data.Train : r.Data.Eval, files.Eval is null ? "data.train" : "data.eval", labels) with
            {
                HoldoutFraction = ctx.Holdout,
                HoldoutSide = files.Eval is null,
                Shuffle = false,
                MaxEpochs = 1,
            };
        var train = Train(false);
        var eval = Eval(false);
        TextDataProbe? probe = null;
        if (o.Probe != "none" && Eval(true) is { } probeEval)
        {
            var probeTrain = Train(true) with { Shuffle = false, MaxEpochs = 1 };
            probe = new TextDataProbe(o.Probe, o.ProbeTrainRows, o.ProbeEvalRows,
                () => new LabelledTextStream(probeTrain, tokenizer), () => new LabelledTextStream(probeEval, tokenizer),
                tokenizer, ctx.Device, r.Train.Seed);
        }
        return new SimCseTask(encoder, mlp, tokenizer, o.Pooling, o.Temperature ?? 0.05, r.Train.Seed, r.Train.SeqLen,
            cursor => new LabelledTextStream(train with { Rank = ctx.Rank, WorldSize = ctx.WorldSize }, tokenizer, cursor),   // this rank's shard
            eval is null ? null : () => new LabelledTextStream(eval, tokenizer),
            probe, ctx.Device, ctx.InitDir, ctx.ResumeCursor)
        { _ranks = ctx.CrossRank };
    }

    /// <summary>SimCSE's training-only MLP over [CLS]: dense (d → d) + tanh, seeded N(0, 0.02), biases 0. Keys dense.*.</summary>
    private static nn.Module<Tensor, Tensor> Mlp(int dim, long seed)
    {
        var mlp = nn.Sequential(("dense", nn.Linear(dim, dim)), ("activation", nn.Tanh()));
        using var gen = new Generator((ulong)seed);
        using var _ = no_grad();
        foreach (var (name, p) in mlp.named_parameters())
        {
            if (name.EndsWith("bias", StringComparison.Ordinal)) p.zero_();
            else p.copy_(randn(p.shape, generator: gen) * 0.02);
        }
        return mlp;
    }

    public nn.Module Model => _module;
    public string Describe =>
        $"bert encoder ({_encoder.Config.NumLayers} layers, width {_encoder.Config.EmbedDim}, dropout {_encoder.Config.Dropout:0.###}) + {_pooling} pooling" +
        $"{(_mlp is null ? "" : " + MLP")} → SimCSE InfoNCE (τ {_temperature:0.###}), {ImageData.ParameterCount(_module) / 1e6:F2}M parameters" +
        (_initDir is null ? "" : $", from {_initDir}");
    public bool HasEval => _openEval is not null;
    public string BestMetric => "eval_loss";
    public string CursorJson => (_cursor ?? DataCursor.Start(_seed, 1)).ToJson();

    public IReadOnlyList<MicroBatch> NextStep(int gradAccumSteps, int microBatchSize)
    {
        if (microBatchSize < 2)
            throw new RecipeException("objective.kind simcse needs train.micro_batch_size >= 2 (the other rows are the negatives).");
        _train ??= _openTrain(_cursor);
        var micro = new List<MicroBatch>(gradAccumSteps);
        for (int m = 0; m < gradAccumSteps; m++)
        {
            var rows = TrainRows.Take(_train, microBatchSize, ref _cursor);
            micro.Add(new MicroBatch(rows, rows.Count, 2L * rows.Sum(r => (long)r.Ids.Length + 2)));
        }
        return micro;
    }

    public Tensor LossSum(MicroBatch batch) => Loss((List<LabelledText>)batch.Samples, _ranks).Sum;

    /// <summary>
    /// Summed InfoNCE over the rows (anchor: first pass, positive: second pass) and the two passes' pooled features
    /// before the MLP, (B, C) each. One forward over the batch stacked twice (2B rows): each copy draws its own
    /// dropout masks, as the paper's implementation does.
    /// </summary>
    public (Tensor Sum, Tensor H1, Tensor H2) Loss(IReadOnlyList<LabelledText> rows, CrossRankBatch? ranks = null)
    {
        var (ids, mask, _) = ClassifyBatch.Collate(rows, _cls, _sep, _pad, _device);    // (B, T)
        var h = Embed(cat([ids, ids], 0), cat([mask, mask], 0));                         // (2B, C)
        var z = _mlp is null ? h : _mlp.call(h);
        long b = rows.Count;
        var (z1, z2) = (z.narrow(0, 0, b), z.narrow(0, b, b));
        return (ContrastiveLoss.InfoNce(z1, z2, _temperature, ranks), h.narrow(0, 0, b), h.narrow(0, b, b));
    }

    /// <summary>Sentence embeddings (B, C) before the MLP: [CLS] hidden state, or the masked mean.</summary>
    public Tensor Embed(Tensor ids, Tensor mask)
    {
        var hidden = _encoder.call(ids, mask, null);                                     // (B, T, C)
        return _pooling == "cls" ? hidden[.., 0] : EncoderLm.MeanPool(hidden, mask);
    }

    /// <summary>
    /// Over the eval split: mean InfoNCE per row with dropout on (its noise seeded by train.seed, the training RNG
    /// restored after), alignment E‖f(x) − f(x⁺)‖² of the two dropout views and uniformity log E exp(−2‖f(x) − f(y)‖²)
    /// over the batch's rows in eval mode (normalised features before the MLP); then the probes.
    /// </summary>
    public Dictionary<string, double> Evaluate(int microBatchSize, int maxBatches)
    {
        double loss = 0, alignment = 0, uniformity = 0;
        long rowsSeen = 0, uniformBatches = 0;
        var rng = RngState.Save();
        bool was = _module.training;
        try
        {
            manual_seed(_seed);
            using var stream = _openEval!();
            foreach (var rows in SampleBatches.Of(stream, Math.Max(2, microBatchSize), maxBatches))
            {
                if (rows.Count < 2) break;   // a last row alone has no negatives
                using var scope = NewDisposeScope();
                using var noGrad = no_grad();
                _module.train();
                var (sum, h1, h2) = Loss(rows);
                loss += sum.item<float>();
                alignment += (nn.functional.normalize(h1, dim: 1) - nn.functional.normalize(h2, dim: 1)).pow(2).sum(1).sum().item<float>();
                rowsSeen += rows.Count;
                _module.eval();
                var (ids, mask, _) = ClassifyBatch.Collate(rows, _cls, _sep, _pad, _device);
                var f = nn.functional.normalize(Embed(ids, mask), dim: 1);
                var d2 = cdist(f, f).pow(2);                                                  // (B, B)
                var offDiagonal = ones_like(d2, dtype: ScalarType.Bool).triu(1);
                uniformity += d2.masked_select(offDiagonal).mul(-2).exp().mean().log().item<float>();
                uniformBatches++;
            }
        }
        finally
        {
            RngState.Restore(rng);
            _module.train(was);
        }
        if (rowsSeen == 0)
            throw new InvalidOperationException("The eval split produced fewer than two rows. Give data.eval more rows or a larger fraction.");
        var metrics = new Dictionary<string, double>
        {
            ["eval_loss"] = loss / rowsSeen,
            ["eval_alignment"] = alignment / rowsSeen,
            ["eval_uniformity"] = uniformity / uniformBatches,
            ["eval_rows"] = rowsSeen,
        };
        if (_probe is not null)
        {
            _module.eval();
            try
            {
                foreach (var (k, v) in _probe.Run(Embed))
                    metrics[k] = v;
            }
            finally { _module.train(was); }
        }
        return metrics;
    }

    /// <summary>model.safetensors as a bare BertModel (the encoder alone), config.json, tokenizer/, and the MLP beside them.</summary>
    public void SaveModel(string directory)
    {
        var meta = new Dictionary<string, string> { ["format"] = "pt" };
        using (NewDisposeScope())
        {
            Safetensors.Save(Path.Combine(directory, "model.safetensors"), HfEncoderLayout.ToHf(_encoder, taskPrefix: false), meta);
            if (_mlp is not null)
                Safetensors.Save(Path.Combine(directory, MlpFile),
                    _mlp.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter.detach()), meta);
        }
        var config = HfEncoderLayout.ConfigJson(_encoder.Config);
        config["architectures"] = new JsonArray("BertModel");
        var ours = (JsonObject)config["pretrain"]!;
        ours["objective"] = "simcse";
        ours["pooling"] = _pooling;
        ours["seq_len"] = _seqLen;
        File.WriteAllText(Path.Combine(directory, "config.json"), config.ToJsonString(TrainerState.Json));
        _tokenizer.Save(Path.Combine(directory, "tokenizer"));
    }

    public void LoadModel(string directory)
    {
        using var scope = NewDisposeScope();
        HfEncoderLayout.LoadHf(_encoder, Safetensors.Load(Path.Combine(directory, "model.safetensors")));
        if (_mlp is null) return;
        string path = Path.Combine(directory, MlpFile);
        var saved = Safetensors.Load(path);
        using var noGrad = no_grad();
        foreach (var (name, p) in _mlp.named_parameters())
        {
            if (!saved.TryGetValue(name, out var t) || !t.shape.SequenceEqual(p.shape))
                throw new InvalidOperationException($"{path}: '{name}' is missing or has another shape than the model's [{string.Join(", ", p.shape)}].");
            p.copy_(t);
        }
    }

    public void Dispose()
    {
        _train?.Dispose();
        _module.Dispose();
    }
}
