using System.Text;

namespace Pretrain.Data.Text;

/// <summary>
/// Trains a GPT-2 style byte-level BPE vocabulary (Microsoft.ML.Tokenizers has no trainer). Text is split with
/// GPT-2's pre-tokenisation regex and each piece's UTF-8 bytes start as symbols 0..255; the most frequent adjacent
/// pair is merged until the vocabulary reaches the size asked for. Pair counts are kept incrementally (only words
/// that hold the merged pair are revisited) and the best pair comes from a priority queue with lazy updates, so a
/// few megabytes of text train in seconds. Ties break on the smaller pair ids, so the result is deterministic.
/// Vocabulary layout: ids 0..255 are the bytes (id = byte value, in the byte-level alphabet: space is 'Ġ'), then one
/// id per merge in order, then the special tokens. The result loads as tokenizer kind <c>bpe</c>.
/// </summary>
public static class BpeTrainer
{
    /// <summary>Trains on <paramref name="documents"/>.</summary>
    /// <param name="documents">Training text; occurrences of special tokens are not learned from.</param>
    /// <param name="vocabSize">Total size: 256 bytes + merges + special tokens.</param>
    /// <param name="specialTokens">Special tokens, EOS first (default &lt;|endoftext|&gt;); ids after the merges.</param>
    /// <param name="minFrequency">A pair seen fewer times is never merged; training may then stop below <paramref name="vocabSize"/>.</param>
    public static BpeTextTokenizer Train(IEnumerable<string> documents, int vocabSize, IReadOnlyList<string>? specialTokens = null,
        int minFrequency = 2)
    {
        string[] specials = specialTokens is { Count: > 0 } ? [.. specialTokens.Distinct(StringComparer.Ordinal)] : ["<|endoftext|>"];
        if (vocabSize < 256 + specials.Length)
        {
            throw new DataException($"--vocab-size {vocabSize} is too small: a byte-level vocabulary needs 256 byte tokens + {specials.Length} special token(s).");
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(minFrequency, 1);
        var words = CountWords(documents, specials);
        var (tokens, merges) = Merge(words, vocabSize - specials.Length, minFrequency);

        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < tokens.Count; i++)
        {
            vocab.TryAdd(tokens[i], vocab.Count);
        }

        foreach (string s in specials)
        {
            if (!vocab.TryAdd(s, vocab.Count))
            {
                throw new DataException($"special token '{s}' is also a learned token; choose a special token that cannot occur in text, e.g. <|{s}|>.");
            }
        }

        return BpeTextTokenizer.FromModel(new BpeModel(vocab, merges), specials[0], specials[1..], "trained BPE");
    }

    /// <summary>Distinct pre-tokenised pieces (as byte symbols) and how often each occurs, in first-seen order.</summary>
    private static List<(int[] Symbols, long Count)> CountWords(IEnumerable<string> documents, string[] specials)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        var order = new List<string>();
        var tally = new List<long>();
        foreach (string document in documents)
        {
            foreach (string part in document.Split(specials, StringSplitOptions.None))
            {
                foreach (var match in ByteLevelAlphabet.Regex.EnumerateMatches(part))
                {
                    string piece = part.Substring(match.Index, match.Length);
                    if (counts.TryGetValue(piece, out int index))
                    {
                        tally[index]++;
                    }
                    else
                    {
                        counts[piece] = order.Count;
                        order.Add(piece);
                        tally.Add(1);
                    }
                }
            }
        }

        var words = new List<(int[], long)>(order.Count);
        for (int i = 0; i < order.Count; i++)
        {
            byte[] bytes = Encoding.UTF8.GetBytes(order[i]);
            words.Add((Array.ConvertAll(bytes, b => (int)b), tally[i]));
        }

        return words;
    }

    private static long Key(int a, int b) => ((long)a << 32) | (uint)b;

    /// <summary>Highest count first; ties on the smaller (left, right) ids.</summary>
    private sealed class PairOrder : IComparer<(long Count, int A, int B)>
    {
        public static readonly PairOrder Instance = new();

        public int Compare((long Count, int A, int B) x, (long Count, int A, int B) y) =>
            x.Count != y.Count ? y.Count.CompareTo(x.Count) : x.A != y.A ? x.A.CompareTo(y.A) : x.B.CompareTo(y.B);
    }

    private static (List<string> Tokens, List<string> Merges) Merge(List<(int[] Symbols, long Count)> words, int targetSize, int minFrequency)
    {
        var tokens = new List<string>(targetSize);
        var ids = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int b = 0; b < 256; b++)
        {
            tokens.Add(ByteLevelAlphabet.ByteToChar[b].ToString());
            ids[tokens[b]] = b;
        }

        var merges = new List<string>();
        var pairCounts = new Dictionary<long, long>();
        var where = new Dictionary<long, HashSet<int>>();
        for (int w = 0; w < words.Count; w++)
        {
            var (symbols, count) = words[w];
            for (int i = 0; i + 1 < symbols.Length; i++)
            {
                long key = Key(symbols[i], symbols[i + 1]);
                pairCounts[key] = pairCounts.GetValueOrDefault(key) + count;
                if (!where.TryGetValue(key, out var set))
                {
                    where[key] = set = [];
                }

                set.Add(w);
            }
        }

        // Invariant: every pair with a count >= minFrequency has a queue entry holding exactly its current count.
        var queue = new PriorityQueue<long, (long Count, int A, int B)>(PairOrder.Instance);
        foreach (var (key, count) in pairCounts)
        {
            if (count >= minFrequency)
            {
                queue.Enqueue(key, (count, (int)(key >> 32), (int)key));
            }
        }

        int distinct = 256;
        var delta = new Dictionary<long, long>();
        while (distinct < targetSize && queue.TryDequeue(out long best, out var entry))
        {
            long current = pairCounts.GetValueOrDefault(best);
            if (current != entry.Count)
            {
                // Stale: a count that fell is queued again at its new value; one that rose already has a newer entry.
                if (current < entry.Count && current >= minFrequency)
                {
                    queue.Enqueue(best, (current, entry.A, entry.B));
                }

                continue;
            }

            int a = entry.A, b = entry.B;
            string merged = tokens[a] + tokens[b];
            if (ids.TryAdd(merged, tokens.Count))
            {
                distinct++;
            }

            tokens.Add(merged); // index = symbol id of this merge's result (may repeat a string made by another merge)
            int symbol = tokens.Count - 1;
            merges.Add(tokens[a] + " " + tokens[b]);
            delta.Clear();
            foreach (int w in where[best].ToArray())
            {
                var (old, count) = words[w];
                int[]? updated = Apply(old, a, b, symbol);
                if (updated is null)
                {
                    continue;
                }

                for (int i = 0; i + 1 < old.Length; i++)
                {
                    long k = Key(old[i], old[i + 1]);
                    delta[k] = delta.GetValueOrDefault(k) - count;
                }

                for (int i = 0; i + 1 < updated.Length; i++)
                {
                    long k = Key(updated[i], updated[i + 1]);
                    delta[k] = delta.GetValueOrDefault(k) + count;
                    if (!where.TryGetValue(k, out var set))
                    {
                        where[k] = set = [];
                    }

                    set.Add(w);
                }

                words[w] = (updated, count);
            }

            foreach (var (k, d) in delta)
            {
                if (d == 0)
                {
                    continue;
                }

                long now = pairCounts.GetValueOrDefault(k) + d;
                if (now <= 0)
                {
                    pairCounts.Remove(k);
                    where.Remove(k);
                    continue;
                }

                pairCounts[k] = now;
                if (d > 0 && now >= minFrequency)
                {
                    queue.Enqueue(k, (now, (int)(k >> 32), (int)k));
                }
            }
        }

        // Symbol ids above were merge positions; the vocabulary maps each distinct string to one id.
        return (tokens.Take(256).Concat(merges.Select(m => m.Replace(" ", "", StringComparison.Ordinal))).ToList(), merges);
    }

    /// <summary>The word with every non-overlapping (a, b), left to right, replaced by <paramref name="symbol"/>; null when it has none.</summary>
    private static int[]? Apply(int[] word, int a, int b, int symbol)
    {
        List<int>? result = null;
        for (int i = 0; i < word.Length; i++)
        {
            if (i + 1 < word.Length && word[i] == a && word[i + 1] == b)
            {
                result ??= new List<int>(word[..i]);
                result.Add(symbol);
                i++;
            }
            else
            {
                result?.Add(word[i]);
            }
        }

        return result?.ToArray();
    }
}
