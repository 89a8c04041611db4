namespace Pretrain.Data.Text;

/// <summary>
/// Assigns ids to the recipe's special tokens (EOS first) over a vocabulary: a token the vocabulary already has
/// keeps its id; any other is appended after the largest id, in the order given. Deterministic, so a saved
/// tokenizer that lists the same specials reloads with the same ids.
/// </summary>
internal sealed class SpecialTokenTable
{
    private SpecialTokenTable(IReadOnlyList<string> tokens, Dictionary<string, int> ids, Dictionary<string, int> added, int vocabSize)
    {
        Tokens = tokens;
        Ids = ids;
        Added = added;
        VocabSize = vocabSize;
    }

    /// <summary>Special tokens, EOS first, without duplicates.</summary>
    public IReadOnlyList<string> Tokens { get; }

    /// <summary>Every special token and its id.</summary>
    public Dictionary<string, int> Ids { get; }

    /// <summary>The specials that were not in the vocabulary, with their new ids.</summary>
    public Dictionary<string, int> Added { get; }

    /// <summary>Largest id + 1, added specials included.</summary>
    public int VocabSize { get; }

    /// <param name="eosToken">EOS token (always first).</param>
    /// <param name="specials">Further special tokens from the recipe.</param>
    /// <param name="lookup">Id of a token in the base vocabulary, or null.</param>
    /// <param name="baseSize">Largest base id + 1.</param>
    public static SpecialTokenTable Build(string eosToken, IEnumerable<string>? specials, Func<string, int?> lookup, int baseSize)
    {
        var tokens = new List<string> { eosToken };
        foreach (string s in specials ?? [])
        {
            if (string.IsNullOrEmpty(s))
            {
                throw new DataException("Special tokens must not be empty (tokenizer.special_tokens).");
            }

            if (!tokens.Contains(s, StringComparer.Ordinal))
            {
                tokens.Add(s);
            }
        }

        var ids = new Dictionary<string, int>(StringComparer.Ordinal);
        var added = new Dictionary<string, int>(StringComparer.Ordinal);
        int next = baseSize;
        foreach (string t in tokens)
        {
            if (lookup(t) is { } id)
            {
                ids[t] = id;
            }
            else
            {
                ids[t] = next;
                added[t] = next;
                next++;
            }
        }

        return new SpecialTokenTable(tokens, ids, added, next);
    }
}
