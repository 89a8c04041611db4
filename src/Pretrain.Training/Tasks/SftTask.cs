using Pretrain.Data.Datasets;
using Pretrain.Data.Sampling;
using Pretrain.Training.Objectives;
using Pretrain.Training.Recipes;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Training.Tasks;

/// <summary>
/// Supervised fine-tuning of a decoder on prompt/response pairs (<see cref="SftStream"/>): next-token
/// cross-entropy on the response and eos only (<see cref="SftObjective"/>), full or LoRA, usually from
/// init.checkpoint; the decoder, LoRA wiring and checkpoint files are the causal-LM task's
/// (<see cref="DecoderTaskModel"/>). Eval: response-token loss, perplexity and accuracy over the eval split, and
/// eval_exact_match, the share of the first objective.exact_match_rows eval rows whose greedy decoding from the
/// prompt reproduces the response and its eos exactly.
/// </summary>
public sealed class SftTask : ITrainingTask
{
    private readonly DecoderTaskModel _decoder;
    private readonly Func<DataCursor?, SftStream> _openTrain;
    private readonly Func<SftStream>? _openEval;
    private readonly Device _device;
    private readonly int _padId;
    private readonly int _exactMatchRows;
    private DataCursor? _cursor;
    private SftStream? _train;

    public SftTask(DecoderTaskModel decoder, Func<DataCursor?, SftStream> openTrain, Func<SftStream>? openEval, Device device,
        DataCursor? resumeFrom, int exactMatchRows)
    {
        _decoder = decoder;
        _openTrain = openTrain;
        _openEval = openEval;
        _device = device;
        _cursor = resumeFrom;
        _padId = decoder.Tokenizer.EosId;   // any valid id: padded positions are never targets and never attended to by real ones
        _exactMatchRows = exactMatchRows;
    }

    /// <summary>Builds the decoder (see <see cref="DecoderTaskModel"/>) and its SFT pair streams from the recipe.</summary>
    public static SftTask Build(TaskContext ctx)
    {
        var recipe = ctx.Recipe;
        var decoder = DecoderTaskModel.Build(ctx);
        int seqLen = recipe.Train.SeqLen;
        if (seqLen > decoder.Model.Config.MaxSeqLen)
        {
            decoder.Model.Dispose();
            throw new RecipeException($"train.seq_len ({seqLen}) exceeds the decoder's {decoder.Model.Config.MaxSeqLen} positions{(ctx.InitDir is null ? "" : $" ({ctx.InitDir}/config.json)")}; lower train.seq_len.");
        }

        var files = ctx.Files;
        SftOptions Options(IReadOnlyList<string> f, DataSplit split, string key) => new()
        {
            Files = f,
            PromptColumn = split.PromptColumn,
            ResponseColumn = split.ResponseColumn,
            MaxTokens = seqLen + 1,   // the model reads all ids but the last
            Seed = recipe.Train.Seed,
            Prefetch = Math.Max(recipe.Data.Prefetch, recipe.Train.MicroBatchSize * recipe.Train.GradAccumSteps),
            ConfigKey = key,            Timeout = ctx.DataTimeout,
        };
        var train = Options(files.Train, recipe.Data.Train, "data.train") with
        {
            HoldoutFraction = ctx.Holdout,
            HoldoutSide = false,
            ShuffleWindow = recipe.Data.Train.ShuffleWindow,
        };
        SftOptions? eval = recipe.Data.Eval is null ? null
            : Options(files.Eval ?? files.Train, files.Eval is null ? recipe.Data.Train : recipe.Data.Eval, files.Eval is null ? "data.train" : "data.eval") with
            {
                HoldoutFraction = ctx.Holdout,
                HoldoutSide = files.Eval is null,
                Shuffle = false,
                MaxEpochs = 1,
            };
        var tokenizer = decoder.Tokenizer;
        return new SftTask(decoder,
            cursor => new SftStream(train with { Rank = ctx.Rank, WorldSize = ctx.WorldSize }, tokenizer, cursor),   // this rank's shard
            eval is null ? null : () => new SftStream(eval, tokenizer),
            ctx.Device, ctx.ResumeCursor, recipe.Objective.ExactMatchRows);
    }

    public string Describe => _decoder.Describe + ", SFT (loss on responses)";
    public nn.Module Model => _decoder.Model;
    public bool HasEval => _openEval is not null;
    public string BestMetric => "eval_loss";
    public string CursorJson => (_cursor ?? DataCursor.Start(0, 1)).ToJson();

    public IReadOnlyList<MicroBatch> NextStep(int gradAccumSteps, int microBatchSize)
    {
        _train ??= _openTrain(_cursor);
        var micro = new List<MicroBatch>(gradAccumSteps);
        for (int m = 0; m < gradAccumSteps; m++)
        {
            var rows = TrainRows.Take(_train, microBatchSize, ref _cursor);
            micro.Add(new MicroBatch(rows, SftObjective.CountTargets(rows), rows.Sum(r => (long)r.Ids.Length - 1)));
        }
        return micro;
    }

    public Tensor LossSum(MicroBatch batch)
    {
        var (inputs, targets) = SftObjective.Collate((List<SftPair>)batch.Samples, _padId, _device);
        return SftObjective.LossSum(_decoder.Model.call(inputs), targets);
    }

    /// <summary>Response-token loss, perplexity and accuracy over the eval split; greedy exact match on its first rows.</summary>
    public Dictionary<string, double> Evaluate(int microBatchSize, int maxBatches)
    {
        var model = _decoder.Model;
        bool was = model.training;
        model.eval();
        try
        {
            double lossSum = 0;
            long correct = 0, count = 0, matched = 0, decoded = 0;
            using var stream = _openEval!();
            foreach (var rows in SampleBatches.Of(stream, microBatchSize, maxBatches))
            {
                using var scope = NewDisposeScope();
                using var noGrad = no_grad();
                var (inputs, targets) = SftObjective.Collate(rows, _padId, _device);
                var logits = model.call(inputs);
                lossSum += SftObjective.LossSum(logits, targets).item<float>();
                var mask = targets.ne(CausalLmObjective.IgnoreIndex);
                correct += logits.argmax(-1).eq(targets).logical_and(mask).sum().item<long>();
                count += mask.sum().item<long>();
                foreach (var row in rows.Take((int)Math.Max(0, _exactMatchRows - decoded)))
                {
                    matched += SftObjective.GreedyMatches(model, row, _device) ? 1 : 0;
                    decoded++;
                }
            }
            if (count == 0)
                throw new InvalidOperationException("The eval split produced no SFT pairs. Give data.eval more rows or a larger fraction.");
            double mean = lossSum / count;
            var result = new Dictionary<string, double>
            {
                ["eval_loss"] = mean,
                ["eval_ppl"] = Math.Exp(Math.Min(mean, 50)),
                ["eval_accuracy"] = (double)correct / count,
                ["eval_tokens"] = count,
            };
            if (decoded > 0)
                result["eval_exact_match"] = (double)matched / decoded;
            return result;
        }
        finally
        {
            model.train(was);
        }
    }

    public void SaveModel(string directory) => _decoder.Save(directory);

    public void LoadModel(string directory) => _decoder.Load(directory);

    public void Dispose()
    {
        _train?.Dispose();
        _decoder.Model.Dispose();
    }
}
