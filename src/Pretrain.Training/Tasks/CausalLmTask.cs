using Pretrain.Data.Datasets;
using Pretrain.Data.Sampling;
using Pretrain.Data.Text;
using Pretrain.Models.Text;
using Pretrain.Models.Weights;
using Pretrain.Training.Objectives;
using Pretrain.Training.Recipes;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Training.Tasks;

/// <summary>Causal-LM pretraining of a <see cref="DecoderLm"/> on packed text blocks.</summary>
public sealed class CausalLmTask : ITrainingTask
{
    private readonly DecoderLm _model;
    private readonly ITextTokenizer _tokenizer;
    private readonly Func<DataCursor?, PackedTextStream> _openTrain;
    private readonly Func<PackedTextStream>? _openEval;
    private readonly Device _device;
    private readonly CausalLmObjective _objective;
    private DataCursor? _cursor;
    private PackedTextStream? _train;

    public CausalLmTask(DecoderLm model, ITextTokenizer tokenizer, Func<DataCursor?, PackedTextStream> openTrain,
        Func<PackedTextStream>? openEval, Device device, DataCursor? resumeFrom)
    {
        _model = model;
        _tokenizer = tokenizer;
        _openTrain = openTrain;
        _openEval = openEval;
        _device = device;
        _cursor = resumeFrom;
        _objective = new CausalLmObjective(model);
    }

    /// <summary>Builds a GPT-2 / Llama-style decoder and its packed-text streams from the recipe.</summary>
    public static CausalLmTask Build(TaskContext ctx)
    {
        var recipe = ctx.Recipe;
        var tokenizer = ctx.Tokenizer;
        var model = new DecoderLm(ModelConfig(recipe.Model, tokenizer));
        model.InitializeWeights(recipe.Train.Seed);
        model.to(ctx.Device);
        int seqLen = recipe.Train.SeqLen;
        var trainOptions = ctx.TrainText(seqLen);
        var evalOptions = ctx.EvalText(seqLen);
        return new CausalLmTask(model, tokenizer,
            cursor => new PackedTextStream(trainOptions, tokenizer, cursor),
            evalOptions is null ? null : () => new PackedTextStream(evalOptions, tokenizer),
            ctx.Device, ctx.ResumeCursor);
    }

    /// <summary>Maps the recipe's model section to the decoder's config (vocab from the tokenizer by default).</summary>
    public static DecoderLmConfig ModelConfig(ModelSection m, ITextTokenizer tokenizer)
    {
        var config = new DecoderLmConfig
        {
            Arch = m.Arch,
            VocabSize = TaskModels.VocabSize(m, tokenizer),
            MaxSeqLen = m.MaxSeqLen,
            EmbedDim = m.EmbedDim,
            NumLayers = m.NumLayers,
            NumHeads = m.NumHeads,
            NumKvHeads = m.NumKvHeads,
            MlpHiddenDim = m.MlpHiddenDim,
            Dropout = m.Dropout,
            TieEmbeddings = m.TieEmbeddings,
            NormEps = m.NormEps ?? 1e-5,
            RopeTheta = m.RopeTheta,
            Bias = m.Bias,
        };
        TaskModels.Validate(config.Validate);
        return config;
    }

    public string Describe => $"{_model.Config.Arch} decoder, {_model.ParameterCount() / 1e6:F2}M parameters, vocab {_model.Config.VocabSize}";

    public nn.Module Model => _model;
    public bool HasEval => _openEval is not null;
    public string BestMetric => "eval_loss";
    public string CursorJson => (_cursor ?? DataCursor.Start(0, 1)).ToJson();

    public IReadOnlyList<MicroBatch> NextStep(int gradAccumSteps, int microBatchSize)
    {
        _train ??= _openTrain(_cursor);
        var micro = new List<MicroBatch>(gradAccumSteps);
        for (int m = 0; m < gradAccumSteps; m++)
        {
            var blocks = new List<int[]>(microBatchSize);
            while (blocks.Count < microBatchSize)
            {
                if (!_train.TryNext(out var block, out var after))
                    throw new InvalidOperationException("The training stream ended; training streams are endless.");
                blocks.Add(block);
                _cursor = after;
            }
            long targets = CausalLmObjective.CountTargets(blocks);
            micro.Add(new MicroBatch(blocks, targets, targets));
        }
        return micro;
    }

    public Tensor LossSum(MicroBatch batch)
    {
        var (inputs, labels) = CausalLmObjective.Collate((List<int[]>)batch.Samples, _device);
        return _objective.LossSum(inputs, labels);
    }

    /// <summary>Mean token loss, perplexity and next-token accuracy over the eval split.</summary>
    public Dictionary<string, double> Evaluate(int microBatchSize, int maxBatches)
    {
        double lossSum = 0;
        long correct = 0, count = 0;
        int batches = 0;
        using (var stream = _openEval!())
        {
            var blocks = new List<int[]>(microBatchSize);
            bool more = true;
            while (more && (maxBatches <= 0 || batches < maxBatches))
            {
                blocks.Clear();
                while (blocks.Count < microBatchSize && (more = stream.TryNext(out var block, out _)))
                    blocks.Add(block);
                if (blocks.Count == 0) break;
                using var scope = NewDisposeScope();
                var (inputs, labels) = CausalLmObjective.Collate(blocks, _device);
                var (l, c, n) = _objective.Evaluate(inputs, labels);
                lossSum += l;
                correct += c;
                count += n;
                batches++;
            }
        }
        if (count == 0)
            throw new InvalidOperationException("The eval split produced no complete block. Give data.eval more rows, or a smaller train.seq_len.");
        double mean = lossSum / count;
        return new Dictionary<string, double>
        {
            ["eval_loss"] = mean,
            ["eval_ppl"] = Math.Exp(Math.Min(mean, 50)),
            ["eval_accuracy"] = (double)correct / count,
            ["eval_tokens"] = count,
        };
    }

    public void SaveModel(string directory)
    {
        using (NewDisposeScope())
            Safetensors.Save(Path.Combine(directory, "model.safetensors"), HfDecoderLayout.ToHf(_model),
                new Dictionary<string, string> { ["format"] = "pt" });
        var config = HfDecoderLayout.ConfigJson(_model.Config, _tokenizer.EosId, _tokenizer.EosId);
        File.WriteAllText(Path.Combine(directory, "config.json"), config.ToJsonString(TrainerState.Json));
        _tokenizer.Save(Path.Combine(directory, "tokenizer"));
    }

    public void LoadModel(string directory)
    {
        using (NewDisposeScope())
            HfDecoderLayout.LoadHf(_model, Safetensors.Load(Path.Combine(directory, "model.safetensors")));
    }

    public void Dispose()
    {
        _train?.Dispose();
        _model.Dispose();
    }
}
