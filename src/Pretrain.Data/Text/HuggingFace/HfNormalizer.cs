using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Pretrain.Data.Text.HuggingFace;

/// <summary>
/// A tokenizer.json <c>normalizer</c> as a function on text: NFC, NFD, NFKC, NFKD, Lowercase, Strip, StripAccents,
/// Replace (string or regex), Prepend, BertNormalizer and Sequence of these. Any other type is an error naming it.
/// </summary>
internal static class HfNormalizer
{
    /// <summary>The normalizer the JSON describes; identity for null.</summary>
    public static Func<string, string> Parse(JsonElement n, string file, bool? lowerCaseOverride = null)
    {
        if (n.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined)
        {
            return s => s;
        }

        string type = HfJson.Type(n, "normalizer", file);
        switch (type)
        {
            case "Sequence":
                var steps = HfJson.Array(n, "normalizers", file).Select(x => Parse(x, file, lowerCaseOverride)).ToArray();
                return s =>
                {
                    foreach (var step in steps)
                    {
                        s = step(s);
                    }

                    return s;
                };
            case "NFC":
                return s => Normalize(s, NormalizationForm.FormC);
            case "NFD":
                return s => Normalize(s, NormalizationForm.FormD);
            case "NFKC":
                return s => Normalize(s, NormalizationForm.FormKC);
            case "NFKD":
                return s => Normalize(s, NormalizationForm.FormKD);
            case "Lowercase":
                return HfChars.Lowercase;
            case "Strip":
                bool left = HfJson.Bool(n, "strip_left", true), right = HfJson.Bool(n, "strip_right", true);
                return s => HfChars.Trim(s, left, right);
            case "StripAccents":
                return s => RemoveMarks(s, nonSpacingOnly: false);
            case "Prepend":
                string prepend = HfJson.Str(n, "prepend") ?? "";
                return s => s.Length == 0 ? s : prepend + s;
            case "Replace":
                string content = HfJson.Str(n, "content") ?? "";
                var (literal, regex) = HfJson.Pattern(n, file);
                if (regex is not null)
                {
                    return s => ReplaceRegex(s, regex, content);
                }

                return s => literal!.Length == 0 ? s : s.Replace(literal, content, StringComparison.Ordinal);
            case "BertNormalizer":
                bool lower = lowerCaseOverride ?? HfJson.Bool(n, "lowercase", true);
                bool? strip = lowerCaseOverride.HasValue ? null
                    : n.TryGetProperty("strip_accents", out var sa) && sa.ValueKind is JsonValueKind.True or JsonValueKind.False ? sa.GetBoolean() : null;
                return Bert(HfJson.Bool(n, "clean_text", true), HfJson.Bool(n, "handle_chinese_chars", true), strip ?? lower, lower);
            default:
                throw HfJson.Unsupported(file, "normalizer", type,
                    "NFC, NFD, NFKC, NFKD, Lowercase, Strip, StripAccents, Replace, Prepend, BertNormalizer, Sequence");
        }
    }

    /// <summary>
    /// BERT's normalizer: drop NUL, U+FFFD and control characters and turn whitespace into spaces; put spaces around
    /// CJK ideographs; strip accents (NFD, then drop non-spacing marks); lower-case — in this order.
    /// </summary>
    public static Func<string, string> Bert(bool cleanText, bool chineseChars, bool stripAccents, bool lowercase) => s =>
    {
        var sb = new StringBuilder(s.Length + 8);
        foreach (var r in s.EnumerateRunes())
        {
            if (cleanText)
            {
                if (r.Value is 0 or 0xFFFD || HfChars.IsBertControl(r))
                {
                    continue;
                }

                if (HfChars.IsWhitespace(r.Value))
                {
                    sb.Append(' ');
                    continue;
                }
            }

            if (chineseChars && HfChars.IsCjk(r.Value))
            {
                sb.Append(' ').Append(r.ToString()).Append(' ');
            }
            else
            {
                sb.Append(r.ToString());
            }
        }

        string t = sb.ToString();
        if (stripAccents)
        {
            t = RemoveMarks(Normalize(t, NormalizationForm.FormD), nonSpacingOnly: true);
        }

        return lowercase ? HfChars.Lowercase(t) : t;
    };

    private static string Normalize(string s, NormalizationForm form) => IcuNormalization.Apply(s, form);

    private static string RemoveMarks(string s, bool nonSpacingOnly)
    {
        var sb = new StringBuilder(s.Length);
        foreach (var r in s.EnumerateRunes())
        {
            var c = Rune.GetUnicodeCategory(r);
            bool mark = c == UnicodeCategory.NonSpacingMark
                || (!nonSpacingOnly && c is UnicodeCategory.SpacingCombiningMark or UnicodeCategory.EnclosingMark);
            if (!mark)
            {
                sb.Append(r.ToString());
            }
        }

        return sb.ToString();
    }

    private static string ReplaceRegex(string s, HfRegex regex, string content)
    {
        var matches = regex.Matches(s);
        if (matches.Count == 0)
        {
            return s;
        }

        var sb = new StringBuilder(s.Length);
        int prev = 0;
        foreach (var (start, end) in matches)
        {
            sb.Append(s, prev, start - prev).Append(content);
            prev = end;
        }

        return sb.Append(s, prev, s.Length - prev).ToString();
    }
}
