using Pretrain.Data.Datasets;
using Pretrain.Data.Sampling;
using Pretrain.Data.Text;
using Pretrain.Models.Peft;
using Pretrain.Models.Text;
using Pretrain.Models.Weights;
using Pretrain.Training.Checkpointing;
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
    private readonly Func<DataCursor?, ISampleStream<int[]>> _openTrain;
    private readonly Func<PackedTextStream>? _openEval;
    private readonly Device _device;
    private readonly CausalLmObjective _objective;
    private DataCursor? _cursor;
    private ISampleStream<int[]>? _train;

    public CausalLmTask(DecoderLm model, ITextTokenizer tokenizer, Func<DataCursor?, ISampleStream<int[]>> openTrain,
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
        var config = ctx.InitDir is { } init ? CheckpointReader.ReadDecoderConfig(init) : ModelConfig(recipe.Model, tokenizer);
        var model = new DecoderLm(config, ctx.Lora);
        model.InitializeWeights(recipe.Train.Seed);
        if (ctx.InitDir is { } dir)
            LoadBase(model, dir);
        if (ctx.Lora is not null)
            LoraModel.FreezeBase(model, [.. recipe.Lora!.Trainable]);
        model.to(ctx.Device);
        int seqLen = recipe.Train.SeqLen;
        var trainOptions = ctx.TrainText(seqLen);
        var evalOptions = ctx.EvalText(seqLen);
        return new CausalLmTask(model, tokenizer,
            cursor => ctx.OpenTrainText(trainOptions.BlockSize, tokenizer, cursor),   // one stream, or data.train.mix
            evalOptions is null ? null : () => new PackedTextStream(evalOptions, tokenizer),
            ctx.Device, ctx.ResumeCursor)
        {
            _initDir = ctx.InitDir,
            _loraSaveFull = recipe.Lora?.SaveFull ?? false,
            _loraTrainable = recipe.Lora?.Trainable ?? [],
            _documentMask = recipe.Data.DocumentMask ? new DocumentMaskedCausalLm(model, tokenizer.EosId) : null,
        };
    }

    private string? _initDir;
    private bool _loraSaveFull;
    private IReadOnlyList<string> _loraTrainable = [];
    private DocumentMaskedCausalLm? _documentMask; // data.document_mask: attention within each packed document only

    /// <summary>Loads full weights (Hugging Face layout) from a checkpoint folder; LoRA parameters stay as built.</summary>
    private static void LoadBase(DecoderLm model, string dir)
    {
        var path = Path.Combine(dir, "model.safetensors");
        if (!File.Exists(path))
            throw new RecipeException($"init.checkpoint {dir} has no model.safetensors (an adapter-only LoRA run?). Start from a full checkpoint, or train that run with lora.save_full: true.");
        using (NewDisposeScope())
            HfDecoderLayout.LoadHf(model, Safetensors.Load(path));
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

    public string Describe => $"{_model.Config.Arch} decoder, {_model.ParameterCount() / 1e6:F2}M parameters, vocab {_model.Config.VocabSize}"
        + (_model.Lora is null ? "" : $", LoRA r={_model.Lora.Rank} on {string.Join("/", _model.Lora.Targets)}: {LoraModel.TrainableParameterCount(_model) / 1e3:F1}k trainable")
        + (_initDir is null ? "" : $", from {_initDir}");

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

    public void SaveModel(string directory)
    {
        if (_model.Lora is not null)
        {
            // Adapter-only (PEFT layout) with the base's path and sha256; the full merged model only when asked.
            PeftAdapterLayout.Save(directory, _model, new PeftAdapterOptions
            {
                BaseModelNameOrPath = _initDir,
                BaseWeightsFile = Path.Combine(_initDir!, "model.safetensors"),
                TaskType = "CAUSAL_LM",
                ModulesToSave = _loraTrainable,
            });
        }
        if (_model.Lora is null || _loraSaveFull)
        {
            using (NewDisposeScope())
                Safetensors.Save(Path.Combine(directory, "model.safetensors"),
                    _model.Lora is null ? HfDecoderLayout.ToHf(_model) : LoraModel.ExportMerged(_model, () => HfDecoderLayout.ToHf(_model)),
                    new Dictionary<string, string> { ["format"] = "pt" });
        }
        var config = HfDecoderLayout.ConfigJson(_model.Config, _tokenizer.EosId, _tokenizer.EosId);
        File.WriteAllText(Path.Combine(directory, "config.json"), config.ToJsonString(TrainerState.Json));
        _tokenizer.Save(Path.Combine(directory, "tokenizer"));
    }

    public void LoadModel(string directory)
    {
        if (_model.Lora is null)
        {
            LoadBase(_model, directory);
            return;
        }
        LoadBase(_model, _initDir!);   // the frozen base, then this checkpoint's adapters (base sha256 checked)
        PeftAdapterLayout.Load(directory, _model, Path.Combine(_initDir!, "model.safetensors"));
    }

    public void Dispose()
    {
        _train?.Dispose();
        _model.Dispose();
    }
}
