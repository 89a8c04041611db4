using Pretrain.Data.Text;

namespace Pretrain.Training.Tasks;

/// <summary>
/// Which tokens start a word (whole-word masking) and which are special. WordPiece marks continuations with
/// "##"; byte-level and BPE vocabularies start a word after whitespace (or with a leading-space piece).
/// Token texts are decoded once per id and cached.
/// </summary>
public sealed class WordBoundaries(ITextTokenizer tokenizer, bool enabled)
{
    private readonly Dictionary<int, string> _text = [];
    private readonly HashSet<int> _special = SpecialIds(tokenizer);

    public bool IsSpecial(int id) => _special.Contains(id);

    /// <summary>Word-start flags for <paramref name="ids"/>, or null when whole-word masking is off.</summary>
    public bool[]? Starts(IReadOnlyList<int> ids)
    {
        if (!enabled) return null;
        var starts = new bool[ids.Count];
        for (int i = 0; i < ids.Count; i++)
        {
            string t = Text(ids[i]);
            if (IsSpecial(ids[i]) || i == 0 || IsSpecial(ids[i - 1])) { starts[i] = true; continue; }
            starts[i] = tokenizer.Kind == "wordpiece"
                ? !t.StartsWith("##", StringComparison.Ordinal)
                : t.Length > 0 && (char.IsWhiteSpace(t[0]) || char.IsPunctuation(t[0])) || Text(ids[i - 1]) is { Length: > 0 } p && (char.IsWhiteSpace(p[^1]) || char.IsPunctuation(p[^1]));
        }
        return starts;
    }

    private string Text(int id)
    {
        if (!_text.TryGetValue(id, out var t))
            _text[id] = t = tokenizer.Decode([id]);
        return t;
    }

    private static HashSet<int> SpecialIds(ITextTokenizer tokenizer)
    {
        var set = new HashSet<int> { tokenizer.EosId };
        if (tokenizer is ISpecialTokens s)
            foreach (var id in new[] { s.PadId, s.ClsId, s.SepId, s.MaskId, s.UnkId })
                if (id is { } v) set.Add(v);
        return set;
    }
}
