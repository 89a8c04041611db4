using Pretrain.Data.Datasets;
using Pretrain.Data.Sampling;
using Pretrain.Data.Text;
using Pretrain.Models.Text;
using Pretrain.Training.Checkpointing;
using Pretrain.Training.Objectives;
using Pretrain.Training.Recipes;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Training.Tasks;

/// <summary>Causal-LM pretraining of a <see cref="DecoderLm"/> on packed text blocks.</summary>
public sealed class CausalLmTask : IDistillableTask
{
    private readonly DecoderTaskModel _decoder;
    private readonly Func<DataCursor?, ISampleStream<int[]>> _openTrain;
    private readonly Func<PackedTextStream>? _openEval;
    private readonly Device _device;
    private readonly CausalLmObjective _objective;
    private DataCursor? _cursor;
    private ISampleStream<int[]>? _train;

    public CausalLmTask(DecoderTaskModel decoder, Func<DataCursor?, ISampleStream<int[]>> openTrain,
        Func<PackedTextStream>? openEval, Device device, DataCursor? resumeFrom)
    {
        _decoder = decoder;
        _openTrain = openTrain;
        _openEval = openEval;
        _device = device;
        _cursor = resumeFrom;
        _objective = new CausalLmObjective(decoder.Model);
    }

    /// <summary>Builds a GPT-2 / Llama-style decoder (see <see cref="DecoderTaskModel"/>) and its packed-text streams from the recipe.</summary>
    public static CausalLmTask Build(TaskContext ctx)
    {
        var decoder = DecoderTaskModel.Build(ctx);
        var tokenizer = decoder.Tokenizer;
        int seqLen = ctx.Recipe.Train.SeqLen;
        var trainOptions = ctx.TrainText(seqLen);
        var evalOptions = ctx.EvalText(seqLen);
        return new CausalLmTask(decoder,
            cursor => BlockLog.Wrap(ctx.OpenTrainText(trainOptions.BlockSize, tokenizer, cursor), ctx.Rank),   // one stream, or data.train.mix
            evalOptions is null ? null : () => new PackedTextStream(evalOptions, tokenizer),
            ctx.Device, ctx.ResumeCursor)
        {
            _documentMask = ctx.Recipe.Data.DocumentMask ? new DocumentMaskedCausalLm(decoder.Model, tokenizer.EosId) : null,
        };
    }

    private DocumentMaskedCausalLm? _documentMask; // data.document_mask: attention within each packed document only

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

    public string Describe => _decoder.Describe;

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
            var blocks = TrainRows.Take(_train, microBatchSize, ref _cursor);
            long targets = CausalLmObjective.CountTargets(blocks);
            micro.Add(new MicroBatch(blocks, targets, targets));
        }
        return micro;
    }

    public Tensor LossSum(MicroBatch batch)
    {
        if (_documentMask is not null)
            return _documentMask.LossSum((List<int[]>)batch.Samples, _device);
        var (inputs, labels) = CausalLmObjective.Collate((List<int[]>)batch.Samples, _device);
        return _objective.LossSum(inputs, labels);
    }

    /// <summary>Mean token loss, perplexity and next-token accuracy over the eval split.</summary>
    public Dictionary<string, double> Evaluate(int microBatchSize, int maxBatches)
    {
        using var stream = _openEval!();
        return TokenEval.Run(stream, microBatchSize, maxBatches, (block, _) => block, blocks =>
        {
            if (_documentMask is not null)
                return _documentMask.Evaluate(blocks, _device);
            var (inputs, labels) = CausalLmObjective.Collate(blocks, _device);
            return _objective.Evaluate(inputs, labels);
        });
    }

    /// <summary>A decoder of the checkpoint's own shape (config.json), full weights, frozen.</summary>
    public nn.Module LoadTeacher(string directory)
    {
        var teacher = new DecoderLm(CheckpointReader.ReadDecoderConfig(directory));
        DecoderTaskModel.LoadBase(teacher, directory);
        teacher.to(_device);
        return TeacherModules.Freeze(teacher);
    }

    /// <summary>Next-token logits (B·T, V) and targets (B·T,) of a block batch, as <see cref="CausalLmObjective.LossSum"/> scores them.</summary>
    public (Tensor Logits, Tensor Targets) Logits(nn.Module model, MicroBatch batch, Pretrain.Models.Modules.LayerCapture? capture = null)
    {
        var (inputs, labels) = CausalLmObjective.Collate((List<int[]>)batch.Samples, _device);
        var decoder = (DecoderLm)model;
        var logits = capture is null ? decoder.call(inputs) : decoder.forward(inputs, null, null, capture);   // (B, T, V)
        return (logits.view(-1, logits.shape[^1]), labels.view(-1));
    }

    public (int Layers, int Width, int Heads) Shape(nn.Module model)
    {
        var c = ((DecoderLm)model).Config;
        return (c.NumLayers, c.EmbedDim, c.NumHeads);
    }

    public void SaveModel(string directory) => _decoder.Save(directory);

    public void LoadModel(string directory) => _decoder.Load(directory);

    public void Dispose()
    {
        _train?.Dispose();
        _decoder.Model.Dispose();
    }
}
