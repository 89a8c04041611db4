using Pretrain.Data.Datasets;
using Pretrain.Models.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Training.Objectives;

/// <summary>
/// Supervised fine-tuning loss: next-token cross-entropy on the response tokens and eos only. A pair of n ids gives
/// inputs ids[..n-1] and targets ids[1..]; the target at input position j counts iff j + 1 ≥ the prompt length, so
/// prompt tokens are context, never targets. Rows are right-padded to the longest in the micro-batch; with causal
/// attention padding after a row's end cannot change its earlier positions, and padded targets are ignored, so no
/// attention mask is needed. The loss is summed here and divided by the step's total target count by the trainer.
/// </summary>
public static class SftObjective
{
    /// <summary>Host-side batch: inputs and targets (B·T, row-major) with T the longest row's inputs; ignored targets are <see cref="CausalLmObjective.IgnoreIndex"/>.</summary>
    public static (long[] Inputs, long[] Targets, int T) Layout(IReadOnlyList<SftPair> pairs, int padId)
    {
        int t = pairs.Max(p => p.Ids.Length) - 1;
        var inputs = new long[pairs.Count * t];
        var targets = new long[pairs.Count * t];
        Array.Fill(inputs, padId);
        Array.Fill(targets, CausalLmObjective.IgnoreIndex);
        for (int i = 0; i < pairs.Count; i++)
        {
            var p = pairs[i];
            for (int j = 0; j < p.Ids.Length - 1; j++)
            {
                inputs[i * t + j] = p.Ids[j];
                if (j + 1 >= p.PromptLength)
                    targets[i * t + j] = p.Ids[j + 1];
            }
        }
        return (inputs, targets, t);
    }

    /// <summary>(inputs, targets) tensors (B, T) on <paramref name="device"/>; see <see cref="Layout"/>.</summary>
    public static (Tensor Inputs, Tensor Targets) Collate(IReadOnlyList<SftPair> pairs, int padId, Device device)
    {
        var (inputs, targets, t) = Layout(pairs, padId);
        return (tensor(inputs, [pairs.Count, t]).to(device), tensor(targets, [pairs.Count, t]).to(device));
    }

    /// <summary>Targets that carry loss in these pairs (response tokens and eos).</summary>
    public static long CountTargets(IEnumerable<SftPair> pairs) => pairs.Sum(p => (long)p.TargetCount);

    /// <summary>Sum of cross-entropies of (B, T, V) logits over the non-ignored (B, T) targets: a float32 scalar.</summary>
    public static Tensor LossSum(Tensor logits, Tensor targets)
    {
        var v = logits.shape[^1];
        return nn.functional.cross_entropy(logits.reshape(-1, v).to(ScalarType.Float32), targets.reshape(-1),
            ignore_index: CausalLmObjective.IgnoreIndex, reduction: nn.Reduction.Sum);
    }

    /// <summary>
    /// Greedy decoding from the pair's prompt: true iff the model emits exactly the reference response (and its eos
    /// when the pair kept it), token by token. Stops at the first wrong token. Call under no_grad, in eval mode.
    /// </summary>
    public static bool GreedyMatches(DecoderLm model, SftPair pair, Device device)
    {
        int context = Math.Max(pair.PromptLength, 1);
        var ids = pair.Ids.Take(context).Select(x => (long)x).ToList();
        for (int k = context; k < pair.Ids.Length; k++)
        {
            using var scope = NewDisposeScope();
            var logits = model.call(tensor(ids.ToArray(), [1, ids.Count]).to(device));   // (1, t, V)
            long next = logits[0, -1].argmax().item<long>();
            if (next != pair.Ids[k])
                return false;
            ids.Add(next);
        }
        return true;
    }
}
