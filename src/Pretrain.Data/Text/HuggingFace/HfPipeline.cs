namespace Pretrain.Data.Text.HuggingFace;

/// <summary>
/// Hugging Face's encode, in its order: added tokens matched on the raw text (those with normalized: false), the rest
/// normalized, added tokens matched on the normalized text, each remaining segment pre-tokenized (first segment
/// told it starts the text) and each piece given to the model. No post-processor: callers add BOS/EOS themselves.
/// Decode maps ids to tokens and runs the decoder. Thread-safe.
/// </summary>
internal sealed class HfPipeline
{
    private readonly Func<string, string> _normalize;
    private readonly PreTokenize _preTokenize;
    private readonly IHfModel _model;
    private readonly HfAddedTokens _raw, _normalized;
    private readonly Func<List<string>, List<string>> _decode;
    private readonly Dictionary<int, string> _idToToken = [];
    private readonly Dictionary<string, int> _tokenToId = new(StringComparer.Ordinal);

    public HfPipeline(Func<string, string> normalize, PreTokenize preTokenize, IHfModel model, IReadOnlyList<HfAddedToken> added,
        Func<List<string>, List<string>> decode)
    {
        _normalize = normalize;
        _preTokenize = preTokenize;
        _model = model;
        _decode = decode;
        _raw = new HfAddedTokens(added.Where(t => !t.Normalized));
        _normalized = new HfAddedTokens(added.Where(t => t.Normalized).Select(t => t with { Content = normalize(t.Content) }));
        foreach (var (token, id) in model.Vocab)
        {
            _idToToken.TryAdd(id, token);
            _tokenToId[token] = id;
        }

        foreach (var t in added)
        {
            _idToToken[t.Id] = t.Content;
            _tokenToId[t.Content] = t.Id;
        }

        VocabSize = _idToToken.Count == 0 ? 0 : _idToToken.Keys.Max() + 1;
    }

    /// <summary>Largest id + 1 (model vocabulary and added tokens).</summary>
    public int VocabSize { get; }

    public IHfModel Model => _model;

    /// <summary>Id of a token of the model or an added token, or null.</summary>
    public int? TokenToId(string token) => _tokenToId.TryGetValue(token, out int id) ? id : null;

    public int[] Encode(string text)
    {
        var ids = new List<int>(text.Length / 3 + 4);
        foreach (var (segment, id, offset) in _raw.Split(text, 0))
        {
            if (id is int rawId)
            {
                ids.Add(rawId);
                continue;
            }

            string normalized = _normalize(segment);
            var parts = _normalized.IsEmpty ? [(normalized, null, offset)] : _normalized.Split(normalized, offset);
            foreach (var (part, partId, partOffset) in parts)
            {
                if (partId is int normalizedId)
                {
                    ids.Add(normalizedId);
                    continue;
                }

                foreach (string piece in _preTokenize([part], partOffset == 0))
                {
                    _model.Tokenize(piece, ids);
                }
            }
        }

        return [.. ids];
    }

    public string Decode(IReadOnlyList<int> ids)
    {
        var tokens = new List<string>(ids.Count);
        foreach (int id in ids)
        {
            tokens.Add(_idToToken.TryGetValue(id, out var t) ? t
                : throw new ArgumentOutOfRangeException(nameof(ids), id, $"Token id outside the vocabulary (0..{VocabSize - 1})."));
        }

        return string.Concat(_decode(tokens));
    }
}
