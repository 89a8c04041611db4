namespace Pretrain.Training.Objectives;

/// <summary>
/// BERT masked-LM corruption (Devlin et al. 2019, §3.1): choose <see cref="MaskProbability"/> of the maskable
/// tokens (whole words when <see cref="WholeWord"/>); of those, 80% become [MASK], 10% a random token, 10% stay.
/// Loss is taken on the chosen positions only. Runs on host arrays with a caller-seeded RNG, so a batch's
/// corruption is a pure function of (seed, step, sample) and resume stays exact.
/// </summary>
public sealed record MlmMasking
{
    public double MaskProbability { get; init; } = 0.15;
    public double ReplaceWithMask { get; init; } = 0.8;
    public double ReplaceWithRandom { get; init; } = 0.1;
    public bool WholeWord { get; init; }
    public required int MaskId { get; init; }
    /// <summary>Random replacements are drawn from [0, RandomVocab) excluding special ids.</summary>
    public required int RandomVocab { get; init; }

    /// <summary>Label of positions that carry no loss.</summary>
    public const long Ignore = -100;

    /// <summary>
    /// Corrupts <paramref name="ids"/>. <paramref name="maskable"/>[i] false keeps special tokens and padding out;
    /// <paramref name="wordStart"/>[i] marks the first piece of a word (whole-word masking). At least one token is
    /// chosen when any is maskable, so a batch never has zero loss terms.
    /// </summary>
    public (long[] Inputs, long[] Labels, int Chosen) Apply(IReadOnlyList<int> ids, IReadOnlyList<bool> maskable,
        IReadOnlyList<bool>? wordStart, Random rng, Func<int, bool> isSpecial)
    {
        int n = ids.Count;
        var inputs = new long[n];
        var labels = new long[n];
        for (int i = 0; i < n; i++) { inputs[i] = ids[i]; labels[i] = Ignore; }

        // Units to choose from: single tokens, or whole words (a start piece plus its continuations).
        var units = new List<(int Start, int Length)>();
        for (int i = 0; i < n; i++)
        {
            if (!maskable[i]) continue;
            bool continues = WholeWord && wordStart is not null && !wordStart[i] && units.Count > 0
                && units[^1].Start + units[^1].Length == i;
            if (continues) units[^1] = (units[^1].Start, units[^1].Length + 1);
            else units.Add((i, 1));
        }
        if (units.Count == 0) return (inputs, labels, 0);

        int chosen = 0;
        var picked = new List<int>();
        for (int u = 0; u < units.Count; u++)
            if (rng.NextDouble() < MaskProbability) picked.Add(u);
        if (picked.Count == 0) picked.Add(rng.Next(units.Count));

        foreach (var u in picked)
        {
            var (start, length) = units[u];
            double r = rng.NextDouble();   // one decision per word: the whole word is masked alike
            for (int i = start; i < start + length; i++)
            {
                labels[i] = ids[i];
                chosen++;
                if (r < ReplaceWithMask) inputs[i] = MaskId;
                else if (r < ReplaceWithMask + ReplaceWithRandom) inputs[i] = RandomToken(rng, isSpecial);
            }
        }
        return (inputs, labels, chosen);
    }

    private int RandomToken(Random rng, Func<int, bool> isSpecial)
    {
        for (int tries = 0; tries < 100; tries++)
        {
            int t = rng.Next(RandomVocab);
            if (!isSpecial(t)) return t;
        }
        return MaskId;
    }
}
