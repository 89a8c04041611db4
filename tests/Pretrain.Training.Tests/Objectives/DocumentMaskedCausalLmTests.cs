using Pretrain.Data.Datasets;
using Pretrain.Models.Text;
using Pretrain.Training.Objectives;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Training.Tests.Objectives;

[Collection("torch")]
public sealed class DocumentMaskedCausalLmTests
{
    private const int Eos = 36;

    // One packed block (T = 12 inputs + 1): the tail of a document, a whole document, the head of a third.
    private static readonly int[] Block = [5, 9, Eos, 7, 3, 3, 11, 20, 2, Eos, 14, 8, 30];
    private static readonly int[] Doc2 = [7, 3, 3, 11, 20, 2, Eos];   // inputs 3..9 of the block
    private const int Doc2Start = 3;

    private static DecoderLm Model(string arch)
    {
        var config = arch == "llama"
            ? new DecoderLmConfig { Arch = "llama", VocabSize = 37, MaxSeqLen = 16, EmbedDim = 32, NumLayers = 2, NumHeads = 4, NumKvHeads = 2, NormEps = 1e-6, RopeTheta = 500 }
            : new DecoderLmConfig { Arch = "gpt2", VocabSize = 37, MaxSeqLen = 16, EmbedDim = 32, NumLayers = 2, NumHeads = 4 };
        var model = new DecoderLm(config);
        model.InitializeWeights(11);
        model.eval();
        return model;
    }

    [Fact]
    public void SegmentsFollowTheEosThePackerWrites()
    {
        var (docs, positions) = PackedDocuments.Segments(Block.AsSpan(0, 12), Eos);
        Assert.Equal([0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 2, 2], docs);
        Assert.Equal([0, 1, 2, 0, 1, 2, 3, 4, 5, 6, 0, 1], positions);
        using var scope = NewDisposeScope();
        var (pos, mask) = DocumentMaskedCausalLm.Build([Block], Eos, CPU);
        Assert.Equal([1L, 12], pos.shape);
        Assert.Equal([1L, 1, 12, 12], mask.shape);
        var m = mask.data<bool>().ToArray();
        for (int q = 0; q < 12; q++)
        {
            for (int k = 0; k < 12; k++)
                Assert.Equal(k <= q && docs[k] == docs[q], m[q * 12 + k]);
        }
    }

    [Theory]
    [InlineData("gpt2")]
    [InlineData("llama")]
    public void WithTheMaskADocumentsLogitsEqualItsLogitsAlone(string arch)
    {
        using var scope = NewDisposeScope();
        using var model = Model(arch);
        using var _ = no_grad();
        var alone = model.call(tensor(Doc2.Select(i => (long)i).ToArray(), [1, Doc2.Length]));          // (1, 7, V)
        var inputs = tensor(Block[..^1].Select(i => (long)i).ToArray(), [1, 12]);
        var masked = new DocumentMaskedCausalLm(model, Eos).Logits([Block], inputs)
            .narrow(1, Doc2Start, Doc2.Length);                                                           // (1, 7, V)
        var plain = model.call(inputs).narrow(1, Doc2Start, Doc2.Length);
        double maskedDiff = (masked - alone).abs().max().item<float>();
        double plainDiff = (plain - alone).abs().max().item<float>();
        Assert.True(maskedDiff < 1e-5, $"{arch}: masked packed logits differ from the document alone by {maskedDiff}");
        Assert.True(plainDiff > 1e-3, $"{arch}: without the mask the packed logits should differ (max diff {plainDiff})");
    }

    [Fact]
    public void LossSumMatchesThePerDocumentLossesAndTrains()
    {
        using var scope = NewDisposeScope();
        using var model = Model("gpt2");
        var objective = new DocumentMaskedCausalLm(model, Eos);
        var loss = objective.LossSum([Block, Block], CPU);
        // Document 2's targets in the block (inputs 3..8 predict 3..9's successors) scored alone must give the same sum.
        using (no_grad())
        {
            var ids = tensor(Doc2.Select(i => (long)i).ToArray(), [1, Doc2.Length]);
            var alone = nn.functional.cross_entropy(model.call(ids).narrow(1, 0, 6).reshape(6, -1), ids.narrow(1, 1, 6).reshape(6), reduction: nn.Reduction.Sum);
            var logits = objective.Logits([Block], tensor(Block[..^1].Select(i => (long)i).ToArray(), [1, 12]));
            var packed = nn.functional.cross_entropy(logits.narrow(1, Doc2Start, 6).reshape(6, -1),
                tensor(Block[(Doc2Start + 1)..(Doc2Start + 7)].Select(i => (long)i).ToArray()), reduction: nn.Reduction.Sum);
            Assert.Equal(alone.item<float>(), packed.item<float>(), 1e-4);
        }

        loss.backward();
        Assert.True(model.parameters().All(p => p.grad is not null));
        var (sum, correct, count) = objective.Evaluate([Block], CPU);
        Assert.Equal(12, count);
        Assert.InRange(correct, 0, 12);
        Assert.True(sum > 0 && Math.Abs(sum * 2 - loss.item<float>()) < 1e-3 * sum);
    }
}
