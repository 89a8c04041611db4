namespace Pretrain.Data.Text.HuggingFace;

/// <summary>
/// Hugging Face's WordPiece model: greedy longest match from the left, later sub-words with the continuing prefix
/// (##); a word longer than max_input_chars_per_word characters, or with a part no sub-word matches, is one unk token.
/// </summary>
internal sealed class HfWordPiece : IHfModel
{
    private readonly Dictionary<string, int> _vocab;
    private readonly string _prefix;
    private readonly int _maxChars;
    private readonly int _unkId;

    public HfWordPiece(Dictionary<string, int> vocab, string unknownToken, string prefix, int maxChars, string source)
    {
        if (maxChars <= 0)
        {
            throw new DataException($"{source}: max_input_chars_per_word is {maxChars}; it must be positive (BERT uses 100).");
        }

        if (!vocab.TryGetValue(unknownToken, out _unkId))
        {
            throw new DataException($"{source}: the unknown token '{unknownToken}' is not in the vocabulary; WordPiece needs it (BERT: [UNK]).");
        }

        _vocab = vocab;
        _prefix = prefix;
        _maxChars = maxChars;
        UnknownToken = unknownToken;
    }

    public IReadOnlyDictionary<string, int> Vocab => _vocab;

    public string? UnknownToken { get; }

    /// <summary>Prefix of non-initial sub-words.</summary>
    public string Prefix => _prefix;

    public void Tokenize(string word, List<int> ids)
    {
        // Rune boundaries, so a match never splits a surrogate pair; the length limit counts code points as Rust does.
        var bounds = new List<int> { 0 };
        foreach (var r in word.EnumerateRunes())
        {
            bounds.Add(bounds[^1] + r.Utf16SequenceLength);
        }

        if (bounds.Count - 1 > _maxChars)
        {
            ids.Add(_unkId);
            return;
        }

        int mark = ids.Count;
        int start = 0;
        while (start < bounds.Count - 1)
        {
            int found = -1, end = bounds.Count - 1;
            for (; end > start; end--)
            {
                string sub = word[bounds[start]..bounds[end]];
                if (start > 0)
                {
                    sub = _prefix + sub;
                }

                if (_vocab.TryGetValue(sub, out found))
                {
                    break;
                }

                found = -1;
            }

            if (found < 0)
            {
                ids.RemoveRange(mark, ids.Count - mark);
                ids.Add(_unkId);
                return;
            }

            ids.Add(found);
            start = end;
        }
    }
}
