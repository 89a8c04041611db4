using Pretrain.Models.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Training.Objectives;

/// <summary>
/// Next-token prediction. A packed block of T+1 ids gives inputs ids[..T] and targets ids[1..]; the loss is summed
/// over targets here and divided by the step's total target count by the trainer, so accumulation over uneven
/// micro-batches weights every token equally (4×2 equals 1×8).
/// </summary>
public sealed class CausalLmObjective(DecoderLm model)
{
    /// <summary>Label value that contributes no loss (PyTorch's cross-entropy default).</summary>
    public const long IgnoreIndex = -100;

    /// <summary>Builds (inputs, targets) tensors (B, T) from packed blocks of T+1 ids.</summary>
    public static (Tensor Inputs, Tensor Targets) Collate(IReadOnlyList<int[]> blocks, Device device)
    {
        int b = blocks.Count, t = blocks[0].Length - 1;
        var inputs = new long[b * t];
        var targets = new long[b * t];
        for (int i = 0; i < b; i++)
        {
            var block = blocks[i];
            if (block.Length != t + 1) throw new ArgumentException("All blocks of a batch must have the same length.");
            for (int j = 0; j < t; j++)
            {
                inputs[i * t + j] = block[j];
                targets[i * t + j] = block[j + 1];
            }
        }
        return (tensor(inputs, [b, t]).to(device), tensor(targets, [b, t]).to(device));
    }

    /// <summary>Counts the targets that carry loss.</summary>
    public static long CountTargets(IReadOnlyList<int[]> blocks) => blocks.Sum(bl => (long)(bl.Length - 1));

    /// <summary>Sum of token cross-entropies over the batch's targets: a scalar (float32).</summary>
    public Tensor LossSum(Tensor inputs, Tensor targets)
    {
        var logits = model.call(inputs);                              // (B, T, V)
        var v = logits.shape[^1];
        return nn.functional.cross_entropy(logits.view(-1, v).to(ScalarType.Float32), targets.view(-1),
            ignore_index: IgnoreIndex, reduction: nn.Reduction.Sum);
    }

    /// <summary>Top-1 accuracy numerator for the given batch (no grad).</summary>
    public (double LossSum, long Correct, long Count) Evaluate(Tensor inputs, Tensor targets)
    {
        using var _ = no_grad();
        var logits = model.call(inputs);
        var v = logits.shape[^1];
        var flatT = targets.view(-1);
        var loss = nn.functional.cross_entropy(logits.view(-1, v).to(ScalarType.Float32), flatT,
            ignore_index: IgnoreIndex, reduction: nn.Reduction.Sum);
        var mask = flatT.ne(IgnoreIndex);
        long correct = logits.view(-1, v).argmax(-1).eq(flatT).logical_and(mask).sum().item<long>();
        return (loss.item<float>(), correct, mask.sum().item<long>());
    }
}
