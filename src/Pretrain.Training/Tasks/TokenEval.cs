using Pretrain.Data.Datasets;
using Pretrain.Data.Sampling;
using static TorchSharp.torch;

namespace Pretrain.Training.Tasks;

/// <summary>
/// The eval loop shared by token-prediction tasks (causal and masked LM): one finite pass over a packed-text
/// stream in micro-batches (at most <c>maxBatches</c>), a dispose scope per batch, summed loss / correct / count,
/// reported as mean token loss, perplexity and accuracy.
/// </summary>
internal static class TokenEval
{
    public static Dictionary<string, double> Run<T>(PackedTextStream stream, int microBatchSize, int maxBatches,
        Func<int[], DataCursor, T> toSample, Func<List<T>, (double LossSum, long Correct, long Count)> score)
    {
        double lossSum = 0;
        long correct = 0, count = 0;
        int batches = 0;
        var samples = new List<T>(microBatchSize);
        bool more = true;
        while (more && (maxBatches <= 0 || batches < maxBatches))
        {
            samples.Clear();
            while (samples.Count < microBatchSize && (more = stream.TryNext(out var block, out var after)))
                samples.Add(toSample(block, after));
            if (samples.Count == 0) break;
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            var (l, c, n) = score(samples);
            lossSum += l;
            correct += c;
            count += n;
            batches++;
        }
        if (count == 0)
            throw new InvalidOperationException("The eval split produced no complete sequence. Give data.eval more rows, or a smaller train.seq_len.");
        double mean = lossSum / count;
        return new Dictionary<string, double>
        {
            ["eval_loss"] = mean,
            ["eval_ppl"] = Math.Exp(Math.Min(mean, 50)),
            ["eval_accuracy"] = (double)correct / count,
            ["eval_tokens"] = count,
        };
    }
}
