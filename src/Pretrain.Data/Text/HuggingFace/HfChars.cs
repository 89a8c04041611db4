using System.Globalization;
using System.Text;

namespace Pretrain.Data.Text.HuggingFace;

/// <summary>
/// The character classes Hugging Face's tokenizers use, as Rust defines them: <c>char::is_whitespace</c> (Unicode
/// White_Space), BERT's punctuation (ASCII punctuation, which includes <c>$ + &lt; = &gt; ^ ` | ~</c>, or a Unicode P*
/// category), BERT's CJK ideograph blocks, and per-character lower-casing (<c>char::to_lowercase</c>).
/// Work on code points (<see cref="Rune"/>), so astral characters are one character as in Rust.
/// </summary>
internal static class HfChars
{
    /// <summary>Rust's <c>char::is_whitespace</c>: the Unicode White_Space property.</summary>
    public static bool IsWhitespace(int c) => c is (>= 0x09 and <= 0x0D) or 0x20 or 0x85 or 0xA0 or 0x1680
        or (>= 0x2000 and <= 0x200A) or 0x2028 or 0x2029 or 0x202F or 0x205F or 0x3000;

    /// <summary>BERT's punctuation: ASCII punctuation or Unicode Pc, Pd, Ps, Pe, Pi, Pf, Po.</summary>
    public static bool IsBertPunctuation(Rune r)
    {
        int c = r.Value;
        if (c is (>= 33 and <= 47) or (>= 58 and <= 64) or (>= 91 and <= 96) or (>= 123 and <= 126))
        {
            return true;
        }

        return Rune.GetUnicodeCategory(r) is UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation
            or UnicodeCategory.OpenPunctuation or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation
            or UnicodeCategory.FinalQuotePunctuation or UnicodeCategory.OtherPunctuation;
    }

    /// <summary>The CJK ideograph blocks BERT pads with spaces (not Hangul, Hiragana or Katakana).</summary>
    public static bool IsCjk(int c) => c is (>= 0x4E00 and <= 0x9FFF) or (>= 0x3400 and <= 0x4DBF) or (>= 0x20000 and <= 0x2A6DF)
        or (>= 0x2A700 and <= 0x2B73F) or (>= 0x2B740 and <= 0x2B81F) or (>= 0x2B920 and <= 0x2CEAF)
        or (>= 0xF900 and <= 0xFAFF) or (>= 0x2F800 and <= 0x2FA1F);

    /// <summary>BERT's control characters: Unicode C* categories except tab, newline and carriage return.</summary>
    public static bool IsBertControl(Rune r) => r.Value is not ('\t' or '\n' or '\r') && Rune.GetUnicodeCategory(r) is
        UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.OtherNotAssigned or UnicodeCategory.PrivateUse;

    /// <summary>Each code point lower-cased on its own, as Rust's <c>char::to_lowercase</c> (İ becomes i + U+0307).</summary>
    public static string Lowercase(string s)
    {
        var sb = new StringBuilder(s.Length);
        foreach (var r in s.EnumerateRunes())
        {
            if (r.Value == 0x130)
            {
                sb.Append("i\u0307");
            }
            else
            {
                sb.Append(Rune.ToLowerInvariant(r).ToString());
            }
        }

        return sb.ToString();
    }

    /// <summary>Trims Rust whitespace from either end.</summary>
    public static string Trim(string s, bool left, bool right)
    {
        int start = 0, end = s.Length;
        while (left && start < end && IsWhitespace(s[start]))
        {
            start++;
        }

        while (right && end > start && IsWhitespace(s[end - 1]))
        {
            end--;
        }

        return s[start..end];
    }
}
