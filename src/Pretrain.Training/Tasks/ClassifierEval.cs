using Pretrain.Data.Datasets;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Training.Tasks;

/// <summary>
/// The eval loop shared by the text and image classifiers: micro-batches from a finite eval stream, the model in eval
/// mode without gradients, summed cross-entropy, and accuracy / macro-F1 / confusion counts.
/// </summary>
internal static class ClassifierEval
{
    /// <param name="forward">A batch of rows → (logits (B, classes), labels (B,) int64), both on the model's device.</param>
    /// <param name="label">A row's true label (for the confusion counts).</param>
    /// <param name="what">What the rows are, for the empty-split message ("rows", "images").</param>
    public static Dictionary<string, double> Run<T>(ISampleStream<T> stream, int microBatchSize, int maxBatches, nn.Module model,
        int numClasses, Func<List<T>, (Tensor Logits, Tensor Labels)> forward, Func<T, long> label, string what)
    {
        var metrics = new ClassificationMetrics(numClasses);
        double lossSum = 0;
        bool was = model.training;
        model.eval();
        try
        {
            foreach (var rows in SampleBatches.Of(stream, microBatchSize, maxBatches))
            {
                using var scope = NewDisposeScope();
                using var noGrad = no_grad();
                var (logits, labels) = forward(rows);
                lossSum += nn.functional.cross_entropy(logits, labels, reduction: nn.Reduction.Sum).item<float>();
                var predicted = logits.argmax(-1).cpu().data<long>().ToArray();
                for (int i = 0; i < rows.Count; i++) metrics.Add(label(rows[i]), predicted[i]);
            }
        }
        finally
        {
            model.train(was);
        }
        if (metrics.Count == 0)
            throw new InvalidOperationException($"The eval split produced no {what}. Give data.eval more rows or a larger fraction.");
        var result = metrics.ToDictionary("eval_");
        result["eval_loss"] = lossSum / metrics.Count;
        return result;
    }
}
