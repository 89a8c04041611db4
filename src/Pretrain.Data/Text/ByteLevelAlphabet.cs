using System.Text;
using System.Text.RegularExpressions;

namespace Pretrain.Data.Text;

/// <summary>
/// GPT-2's byte-level BPE conventions: every byte maps to a printable character (space → 'Ġ', newline → 'Ċ', …) so
/// vocab.json and merges.txt hold plain strings, and text is split into pieces by GPT-2's pre-tokenisation regex.
/// </summary>
internal static class ByteLevelAlphabet
{
    /// <summary>GPT-2's pre-tokenisation pattern: contractions, letters, digits, other symbols, each with an optional leading space; whitespace runs.</summary>
    public const string Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    /// <summary>The compiled pre-tokenisation regex.</summary>
    public static Regex Regex { get; } = new(Pattern, RegexOptions.Compiled | RegexOptions.CultureInvariant);

    /// <summary>Character for each byte value (GPT-2's bytes_to_unicode).</summary>
    public static IReadOnlyList<char> ByteToChar { get; } = BuildTable();

    /// <summary>Byte value of each alphabet character.</summary>
    public static IReadOnlyDictionary<char, byte> CharToByte { get; } =
        Enumerable.Range(0, 256).ToDictionary(b => ByteToChar[b], b => (byte)b);

    /// <summary>The UTF-8 bytes of <paramref name="text"/> written in the byte-level alphabet.</summary>
    public static string Encode(string text)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        var chars = new char[bytes.Length];
        for (int i = 0; i < bytes.Length; i++)
        {
            chars[i] = ByteToChar[bytes[i]];
        }

        return new string(chars);
    }

    private static char[] BuildTable()
    {
        var printable = new List<int>();
        for (int b = '!'; b <= '~'; b++)
        {
            printable.Add(b);
        }

        for (int b = 0xA1; b <= 0xAC; b++)
        {
            printable.Add(b);
        }

        for (int b = 0xAE; b <= 0xFF; b++)
        {
            printable.Add(b);
        }

        var table = new char[256];
        foreach (int b in printable)
        {
            table[b] = (char)b;
        }

        int n = 0;
        for (int b = 0; b < 256; b++)
        {
            if (!printable.Contains(b))
            {
                table[b] = (char)(256 + n);
                n++;
            }
        }

        return table;
    }
}
