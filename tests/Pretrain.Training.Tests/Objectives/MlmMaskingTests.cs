using Pretrain.Training.Objectives;

namespace Pretrain.Training.Tests.Objectives;

public sealed class MlmMaskingTests
{
    private static readonly MlmMasking Bert = new() { MaskId = 3, RandomVocab = 1000 };

    [Fact]
    public void Chooses_fifteen_percent_and_splits_80_10_10()
    {
        var rng = new Random(1);
        int n = 200_000;
        var ids = Enumerable.Range(0, n).Select(i => 10 + i % 900).ToArray();
        var maskable = Enumerable.Repeat(true, n).ToArray();
        var (inputs, labels, chosen) = Bert.Apply(ids, maskable, null, rng, t => t < 5);
        int asMask = 0, asRandom = 0, kept = 0;
        for (int i = 0; i < n; i++)
        {
            if (labels[i] == MlmMasking.Ignore) { Assert.Equal(ids[i], inputs[i]); continue; }   // unchosen: untouched
            Assert.Equal(ids[i], labels[i]);                                                     // label is the original
            if (inputs[i] == 3) asMask++;
            else if (inputs[i] == ids[i]) kept++;
            else asRandom++;
        }
        Assert.Equal(chosen, asMask + asRandom + kept);
        Assert.InRange(chosen / (double)n, 0.145, 0.155);
        Assert.InRange(asMask / (double)chosen, 0.79, 0.81);
        Assert.InRange(asRandom / (double)chosen, 0.09, 0.11);   // a random pick equal to the original counts as kept (~0.1%)
        Assert.InRange(kept / (double)chosen, 0.09, 0.11);
    }

    [Fact]
    public void Special_and_padding_positions_are_never_chosen_and_random_tokens_are_not_special()
    {
        var rng = new Random(2);
        var ids = new[] { 1, 50, 51, 52, 2, 0, 0 };
        var maskable = new[] { false, true, true, true, false, false, false };
        for (int trial = 0; trial < 500; trial++)
        {
            var (inputs, labels, chosen) = Bert.Apply(ids, maskable, null, rng, t => t < 5);
            Assert.True(chosen >= 1);                                 // never a sequence without loss terms
            foreach (var i in new[] { 0, 4, 5, 6 }) { Assert.Equal(MlmMasking.Ignore, labels[i]); Assert.Equal(ids[i], inputs[i]); }
            foreach (var i in new[] { 1, 2, 3 }) Assert.True(inputs[i] == 3 || inputs[i] >= 5);
        }
    }

    [Fact]
    public void Whole_word_masking_masks_all_pieces_of_a_word_together()
    {
        var masking = Bert with { WholeWord = true, MaskProbability = 0.5 };
        var ids = new[] { 10, 11, 12, 20, 21, 30 };
        var starts = new[] { true, false, false, true, false, true };   // words: [10 11 12] [20 21] [30]
        var maskable = Enumerable.Repeat(true, 6).ToArray();
        var rng = new Random(3);
        for (int trial = 0; trial < 300; trial++)
        {
            var (_, labels, _) = masking.Apply(ids, maskable, starts, rng, t => t < 5);
            bool[] c = labels.Select(l => l != MlmMasking.Ignore).ToArray();
            Assert.True(c[0] == c[1] && c[1] == c[2]);
            Assert.True(c[3] == c[4]);
        }
    }

    [Fact]
    public void Same_seed_same_corruption()
    {
        var ids = Enumerable.Range(10, 64).ToArray();
        var maskable = Enumerable.Repeat(true, 64).ToArray();
        var a = Bert.Apply(ids, maskable, null, new Random(9), t => t < 5);
        var b = Bert.Apply(ids, maskable, null, new Random(9), t => t < 5);
        Assert.Equal(a.Inputs, b.Inputs);
        Assert.Equal(a.Labels, b.Labels);
    }
}
