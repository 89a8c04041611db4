using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Pretrain.Data.Text.HuggingFace;

/// <summary>Splits the pieces of one segment of text (between added tokens) further; <c>atStart</c>: the segment begins the text.</summary>
internal delegate List<string> PreTokenize(List<string> pieces, bool atStart);

/// <summary>
/// A tokenizer.json <c>pre_tokenizer</c>: Split (string or regex, every behavior, invert), ByteLevel (with or
/// without GPT-2's regex, add_prefix_space), Digits, Whitespace, WhitespaceSplit, BertPreTokenizer, Punctuation,
/// CharDelimiterSplit, Metaspace and Sequence of these. Any other type is an error naming it.
/// </summary>
internal static class HfPreTokenizer
{
    private static readonly HfRegex WordOrPunctuation = new(@"\w+|[^\w\s]+", "Whitespace");

    /// <summary>The pre-tokenizer the JSON describes; no split for null.</summary>
    public static PreTokenize Parse(JsonElement p, string file)
    {
        if (p.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined)
        {
            return (pieces, _) => pieces;
        }

        string type = HfJson.Type(p, "pre_tokenizer", file);
        switch (type)
        {
            case "Sequence":
                var steps = HfJson.Array(p, "pretokenizers", file).Select(x => Parse(x, file)).ToArray();
                return (pieces, atStart) =>
                {
                    foreach (var step in steps)
                    {
                        pieces = step(pieces, atStart);
                    }

                    return pieces;
                };
            case "Split":
                var regex = HfJson.AsRegex(HfJson.Pattern(p, file), file);
                var behavior = HfSplit.ParseBehavior(HfJson.Str(p, "behavior"), file);
                bool invert = HfJson.Bool(p, "invert", false);
                return Each((s, into) => HfSplit.Split(s, regex.Matches(s), behavior, invert, into));
            case "ByteLevel":
                bool prefix = HfJson.Bool(p, "add_prefix_space", true), useRegex = HfJson.Bool(p, "use_regex", true);
                return Each((s, into) =>
                {
                    if (prefix && !s.StartsWith(' '))
                    {
                        s = " " + s;
                    }

                    var parts = new List<string>();
                    if (useRegex)
                    {
                        HfSplit.Split(s, HfRegex.Gpt2.Matches(s), SplitBehavior.Isolated, false, parts);
                    }
                    else
                    {
                        parts.Add(s);
                    }

                    into.AddRange(parts.Select(ByteLevelAlphabet.Encode));
                });
            case "Digits":
                bool individual = HfJson.Bool(p, "individual_digits", false);
                return Each((s, into) => HfSplit.Split(s, HfSplit.CharSpans(s, IsNumeric),
                    individual ? SplitBehavior.Isolated : SplitBehavior.Contiguous, false, into));
            case "Whitespace":
                return Each((s, into) => HfSplit.Split(s, WordOrPunctuation.Matches(s), SplitBehavior.Removed, true, into));
            case "WhitespaceSplit":
                return Each(SplitOnWhitespace);
            case "BertPreTokenizer":
                return Bert;
            case "Punctuation":
                var punctuation = HfSplit.ParseBehavior(HfJson.Str(p, "behavior"), file);
                return Each((s, into) => HfSplit.Split(s, HfSplit.CharSpans(s, HfChars.IsBertPunctuation), punctuation, false, into));
            case "CharDelimiterSplit":
                string delimiter = HfJson.Str(p, "delimiter") ?? throw new DataException($"{file}: CharDelimiterSplit needs \"delimiter\".");
                return Each((s, into) => HfSplit.Split(s, HfSplit.CharSpans(s, r => r.ToString() == delimiter), SplitBehavior.Removed, false, into));
            case "Metaspace":
                return Metaspace(p, file);
            default:
                throw HfJson.Unsupported(file, "pre_tokenizer", type,
                    "Split, ByteLevel, Digits, Whitespace, WhitespaceSplit, BertPreTokenizer, Punctuation, CharDelimiterSplit, Metaspace, Sequence");
        }
    }

    /// <summary>BERT's: split on whitespace (removed), then around each punctuation character (kept alone).</summary>
    public static PreTokenize Bert { get; } = Each((s, into) =>
    {
        var words = new List<string>();
        SplitOnWhitespace(s, words);
        foreach (string w in words)
        {
            HfSplit.Split(w, HfSplit.CharSpans(w, HfChars.IsBertPunctuation), SplitBehavior.Isolated, false, into);
        }
    });

    /// <summary>Metaspace: spaces become the replacement (▁), which is prepended as prepend_scheme says, then split before each.</summary>
    private static PreTokenize Metaspace(JsonElement p, string file)
    {
        string replacement = HfJson.Str(p, "replacement") ?? "\u2581";
        string scheme = HfJson.Str(p, "prepend_scheme") ?? (HfJson.Bool(p, "add_prefix_space", true) ? "always" : "never");
        if (scheme is not ("always" or "first" or "never"))
        {
            throw new DataException($"{file}: Metaspace prepend_scheme '{scheme}' is unknown (always, first, never).");
        }

        bool split = HfJson.Bool(p, "split", true);
        return (pieces, atStart) =>
        {
            var result = new List<string>();
            for (int i = 0; i < pieces.Count; i++)
            {
                string s = pieces[i].Replace(" ", replacement, StringComparison.Ordinal);
                bool prepend = scheme == "always" || (scheme == "first" && atStart && i == 0);
                if (prepend && !s.StartsWith(replacement, StringComparison.Ordinal))
                {
                    s = replacement + s;
                }

                if (split)
                {
                    var spans = new List<(int, int)>();
                    for (int at = s.IndexOf(replacement, StringComparison.Ordinal); at >= 0 && replacement.Length > 0;
                         at = s.IndexOf(replacement, at + replacement.Length, StringComparison.Ordinal))
                    {
                        spans.Add((at, at + replacement.Length));
                    }

                    HfSplit.Split(s, spans, SplitBehavior.MergedWithNext, false, result);
                }
                else if (s.Length > 0)
                {
                    result.Add(s);
                }
            }

            return result;
        };
    }

    private static PreTokenize Each(Action<string, List<string>> split) => (pieces, _) =>
    {
        var result = new List<string>(pieces.Count * 2);
        foreach (string s in pieces)
        {
            split(s, result);
        }

        return result;
    };

    private static void SplitOnWhitespace(string s, List<string> into) =>
        HfSplit.Split(s, HfSplit.CharSpans(s, r => HfChars.IsWhitespace(r.Value)), SplitBehavior.Removed, false, into);

    /// <summary>Rust's <c>char::is_numeric</c>: Nd, Nl or No.</summary>
    private static bool IsNumeric(Rune r) => Rune.GetUnicodeCategory(r) is
        UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber;
}
