namespace Pretrain.Data.Text.HuggingFace;

/// <summary>An entry of tokenizer.json's <c>added_tokens</c> (or a recipe special token).</summary>
internal sealed record HfAddedToken(string Content, int Id, bool Special, bool SingleWord = false, bool LStrip = false,
    bool RStrip = false, bool Normalized = false);

/// <summary>
/// Finds added tokens in text before pre-tokenization, as Hugging Face's AddedVocabulary does: leftmost-longest
/// matches, <c>single_word</c> tokens only between non-word characters, <c>lstrip</c>/<c>rstrip</c> taking the
/// whitespace beside them. One matcher holds the tokens matched on the raw text (normalized: false), another those
/// matched on normalized text.
/// </summary>
internal sealed class HfAddedTokens
{
    private readonly Dictionary<char, HfAddedToken[]> _byFirstChar;

    /// <param name="tokens">The tokens; for a normalized matcher their content already normalized.</param>
    public HfAddedTokens(IEnumerable<HfAddedToken> tokens)
    {
        _byFirstChar = tokens.Where(t => t.Content.Length > 0)
            .GroupBy(t => t.Content[0])
            .ToDictionary(g => g.Key, g => g.OrderByDescending(t => t.Content.Length).ToArray());
    }

    public bool IsEmpty => _byFirstChar.Count == 0;

    /// <summary>Splits <paramref name="s"/> into (text, null) and (token content, id) parts, in order; empty text parts dropped.</summary>
    public List<(string Text, int? Id, int Offset)> Split(string s, int offset)
    {
        var parts = new List<(string, int?, int)>();
        int done = 0;
        for (int i = 0; i < s.Length;)
        {
            var token = _byFirstChar.Count == 0 ? null : MatchAt(s, i);
            if (token is null)
            {
                i++;
                continue;
            }

            int start = i, stop = i + token.Content.Length;
            if (token.SingleWord && ((start > 0 && IsWordChar(s, start - 1, before: true)) || (stop < s.Length && IsWordChar(s, stop, before: false))))
            {
                i++;
                continue;
            }

            if (token.LStrip)
            {
                while (start > done && HfChars.IsWhitespace(s[start - 1]))
                {
                    start--;
                }
            }

            if (token.RStrip)
            {
                while (stop < s.Length && HfChars.IsWhitespace(s[stop]))
                {
                    stop++;
                }
            }

            if (start > done)
            {
                parts.Add((s[done..start], null, offset + done));
            }

            parts.Add((s[start..stop], token.Id, offset + start));
            done = stop;
            i = stop;
        }

        if (done < s.Length)
        {
            parts.Add((s[done..], null, offset + done));
        }

        return parts;
    }

    private HfAddedToken? MatchAt(string s, int i)
    {
        if (!_byFirstChar.TryGetValue(s[i], out var candidates))
        {
            return null;
        }

        foreach (var t in candidates)
        {
            if (string.CompareOrdinal(s, i, t.Content, 0, t.Content.Length) == 0)
            {
                return t;
            }
        }

        return null;
    }

    /// <summary>Whether the character ending (before) or starting (after) at <paramref name="at"/> is alphanumeric or '_'.</summary>
    private static bool IsWordChar(string s, int at, bool before)
    {
        int index = before && char.IsLowSurrogate(s[at]) && at > 0 ? at - 1 : at;
        return char.IsLetterOrDigit(s, index) || s[index] == '_';
    }
}
