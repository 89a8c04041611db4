using Pretrain.Data.Datasets;
using Pretrain.Models.Text;
using static TorchSharp.torch;

namespace Pretrain.Training.Objectives;

/// <summary>
/// Causal-LM loss on packed blocks where a token attends only to earlier tokens of its own document (recipe
/// data.document_mask: true): the attention mask is block-diagonal causal and positions restart at 0 with every
/// document, so each document is modelled exactly as if it were alone (GPT-2 learned positions and Llama RoPE alike).
/// Segments come from the packer's EOS (<see cref="PackedDocuments"/>). The first, partial document of a block starts
/// at position 0 too (its earlier tokens lie in the previous block). The target after an EOS (the next document's first
/// token) is still trained, predicted from the finished document alone, as without the mask.
/// </summary>
public sealed class DocumentMaskedCausalLm(DecoderLm model, int eosId)
{
    /// <summary>Position ids (B, T) int64 and the bool attention mask (B, 1, T, T), true = may attend.</summary>
    public static (Tensor PositionIds, Tensor Mask) Build(IReadOnlyList<int[]> blocks, int eosId, Device device)
    {
        int b = blocks.Count, t = blocks[0].Length - 1;
        var positions = new long[b * t];
        var mask = new bool[b * t * t];
        for (int i = 0; i < b; i++)
        {
            var (_, pos) = PackedDocuments.Segments(blocks[i].AsSpan(0, t), eosId);
            for (int q = 0; q < t; q++)
            {
                positions[i * t + q] = pos[q];
                for (int k = q - pos[q]; k <= q; k++) // the query's own document, up to itself
                {
                    mask[((i * t) + q) * t + k] = true;
                }
            }

        }

        return (tensor(positions, [b, t]).to(device), tensor(mask, [b, 1, t, t]).to(device));
    }

    /// <summary>Logits (B, T, V) of the blocks' inputs under the document mask.</summary>
    public Tensor Logits(IReadOnlyList<int[]> blocks, Tensor inputs)
    {
        var (positions, mask) = Build(blocks, eosId, inputs.device);
        return model.forward(inputs, positions, mask);
    }

    /// <summary>Summed token cross-entropy, as <see cref="CausalLmObjective.LossSum"/>.</summary>
    public Tensor LossSum(IReadOnlyList<int[]> blocks, Device device)
    {
        var (inputs, targets) = CausalLmObjective.Collate(blocks, device);
        var logits = Logits(blocks, inputs);
        var v = logits.shape[^1];
        return nn.functional.cross_entropy(logits.view(-1, v).to(ScalarType.Float32), targets.view(-1),
            ignore_index: CausalLmObjective.IgnoreIndex, reduction: nn.Reduction.Sum);
    }

    /// <summary>Loss sum, correct top-1 count and target count (no grad), as <see cref="CausalLmObjective.Evaluate"/>.</summary>
    public (double LossSum, long Correct, long Count) Evaluate(IReadOnlyList<int[]> blocks, Device device)
    {
        using var _ = no_grad();
        var (inputs, targets) = CausalLmObjective.Collate(blocks, device);
        var logits = Logits(blocks, inputs);
        var v = logits.shape[^1];
        var flatT = targets.view(-1);
        var loss = nn.functional.cross_entropy(logits.view(-1, v).to(ScalarType.Float32), flatT,
            ignore_index: CausalLmObjective.IgnoreIndex, reduction: nn.Reduction.Sum);
        var keep = flatT.ne(CausalLmObjective.IgnoreIndex);
        long correct = logits.view(-1, v).argmax(-1).eq(flatT).logical_and(keep).sum().item<long>();
        return (loss.item<float>(), correct, keep.sum().item<long>());
    }
}
