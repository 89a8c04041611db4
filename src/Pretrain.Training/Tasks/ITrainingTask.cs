using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Training.Tasks;

/// <summary>
/// What is being learned: a model, its objective and its data. The <see cref="Trainer"/> owns optimisation
/// (accumulation, clipping, schedule, checkpoints cadence); a task owns what a batch is, how its loss is computed,
/// how it is evaluated, and which files its model is saved as.
/// </summary>
public interface ITrainingTask : IDisposable
{
    /// <summary>Every module whose parameters may train (backbone and heads).</summary>
    nn.Module Model { get; }

    /// <summary>One line for the log: architecture, size, vocabulary.</summary>
    string Describe { get; }

    /// <summary>
    /// Whether a parameter gets weight decay. Default rule (nanoGPT, MAE): matrices and embeddings yes; biases,
    /// norms and other 1-D tensors no; tasks may exclude more (class token, position tables).
    /// </summary>
    bool Decays(string name, TorchSharp.Modules.Parameter parameter) => parameter.dim() >= 2;

    /// <summary>Draws the samples of one optimizer step (host memory; no tensors yet).</summary>
    IReadOnlyList<MicroBatch> NextStep(int gradAccumSteps, int microBatchSize);

    /// <summary>Summed loss over the micro-batch's loss terms; the trainer divides by the step's total.</summary>
    Tensor LossSum(MicroBatch batch);

    /// <summary>Whether the recipe has an eval split.</summary>
    bool HasEval { get; }

    /// <summary>Metrics over (at most <paramref name="maxBatches"/> batches of) the eval split; keys start with eval_.</summary>
    Dictionary<string, double> Evaluate(int microBatchSize, int maxBatches);

    /// <summary>The eval metric keep-best ranks by, unless the recipe names another (train.best_metric).</summary>
    string BestMetric { get; }

    /// <summary>Whether a higher <see cref="BestMetric"/> is better (accuracy); false: lower is better (loss).</summary>
    bool BestMetricHigherIsBetter => false;

    /// <summary>The data cursor after the last step drawn, as JSON (trainer_state.json).</summary>
    string CursorJson { get; }

    /// <summary>Writes the model's files (Hugging Face layout, tokenizer) into a checkpoint folder.</summary>
    void SaveModel(string directory);

    /// <summary>Loads the model's weights from a checkpoint folder written by <see cref="SaveModel"/>.</summary>
    void LoadModel(string directory);
}
