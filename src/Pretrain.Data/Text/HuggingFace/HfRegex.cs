using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Pretrain.Data.Text.HuggingFace;

/// <summary>
/// A tokenizer.json regex run the way Hugging Face's Oniguruma runs it, on code points. .NET matches UTF-16 units,
/// so <c>\p{L}</c> misses astral letters (𝐀, 𠀀) and a class like <c>[^\p{L}]</c> could split a surrogate pair. Text
/// holding astral characters is matched through a shadow string where each astral code point is one BMP stand-in of
/// the same general category; match positions are mapped back to the original text.
/// </summary>
internal sealed class HfRegex
{
    private readonly Regex _regex;

    public HfRegex(string pattern, string file)
    {
        try
        {
            _regex = new Regex(pattern, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(10));
        }
        catch (ArgumentException e)
        {
            throw new DataException($"{file}: the regex '{pattern}' cannot be compiled here ({e.Message}).", e);
        }
    }

    /// <summary>GPT-2's pre-tokenisation regex (ByteLevel with use_regex).</summary>
    public static HfRegex Gpt2 { get; } = new(ByteLevelAlphabet.Pattern, "ByteLevel");

    /// <summary>Non-empty matches as (start, end) UTF-16 offsets into <paramref name="s"/>.</summary>
    public List<(int Start, int End)> Matches(string s)
    {
        var found = new List<(int, int)>();
        int surrogates = 0;
        foreach (char c in s)
        {
            if (char.IsHighSurrogate(c))
            {
                surrogates++;
            }
        }

        if (surrogates == 0)
        {
            foreach (Match m in _regex.Matches(s))
            {
                if (m.Length > 0)
                {
                    found.Add((m.Index, m.Index + m.Length));
                }
            }

            return found;
        }

        // Shadow string: one char per code point; origin[i] is where shadow char i starts in s.
        var shadow = new StringBuilder(s.Length);
        var origin = new List<int>(s.Length + 1);
        for (int i = 0; i < s.Length;)
        {
            origin.Add(i);
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
            {
                shadow.Append(StandIn(Rune.GetUnicodeCategory(new Rune(s[i], s[i + 1]))));
                i += 2;
            }
            else
            {
                shadow.Append(s[i]);
                i++;
            }
        }

        origin.Add(s.Length);
        foreach (Match m in _regex.Matches(shadow.ToString()))
        {
            if (m.Length > 0)
            {
                found.Add((origin[m.Index], origin[m.Index + m.Length]));
            }
        }

        return found;
    }

    /// <summary>A BMP character of the category, outside the ranges tokenizer regexes name (ASCII, CJK, kana).</summary>
    private static char StandIn(UnicodeCategory category) => category switch
    {
        UnicodeCategory.UppercaseLetter => '\u0416',
        UnicodeCategory.LowercaseLetter => '\u0436',
        UnicodeCategory.TitlecaseLetter => '\u01C5',
        UnicodeCategory.ModifierLetter => '\u02B0',
        UnicodeCategory.OtherLetter => '\uA000',
        UnicodeCategory.NonSpacingMark => '\u0300',
        UnicodeCategory.SpacingCombiningMark => '\u0903',
        UnicodeCategory.EnclosingMark => '\u20DD',
        UnicodeCategory.DecimalDigitNumber => '\u0660',
        UnicodeCategory.LetterNumber => '\u2160',
        UnicodeCategory.OtherNumber => '\u00B2',
        UnicodeCategory.ConnectorPunctuation => '\u203F',
        UnicodeCategory.DashPunctuation => '\u2010',
        UnicodeCategory.OpenPunctuation => '\u2045',
        UnicodeCategory.ClosePunctuation => '\u2046',
        UnicodeCategory.InitialQuotePunctuation => '\u2039',
        UnicodeCategory.FinalQuotePunctuation => '\u203A',
        UnicodeCategory.OtherPunctuation => '\u00B6',
        UnicodeCategory.MathSymbol => '\u2200',
        UnicodeCategory.CurrencySymbol => '\u20A0',
        UnicodeCategory.ModifierSymbol => '\u02C2',
        UnicodeCategory.OtherSymbol => '\u00A6',
        UnicodeCategory.Format => '\u2060',
        UnicodeCategory.PrivateUse => '\uE000',
        _ => '\u0378', // unassigned
    };
}
