namespace Pretrain.Data.Tests.Reference;

/// <summary>
/// Texts the tokenizer reference tests encode on both sides: hand-written samples of what trips tokenizers
/// (contractions, runs of newlines and spaces, tabs, CJK, emoji and other astral characters, accents, code, BERT's
/// ASCII symbols), then chunks of four lines (blank lines kept, so newline runs occur) taken evenly from the
/// repository's own sources and docs and Debian's license texts. Deterministic for a given checkout.
/// </summary>
internal static class ReferenceCorpus
{
    private static readonly string[] Samples =
    [
        "Hello world", "hello world", " leading space", "trailing space ", "  two leading", "tabs\tand\ttabs",
        "I'm sure you'll see they've done it; we'd've said it's HE'S and THEY'RE ISN'T", "O'Neil's dog's bone",
        "line one\nline two\n\n\nline five\r\nwindows\r\n\r\n", "\n\n\n\n", "    indented\n        more\n", "a\u00a0b\u2003c\u3000d",
        "x = 1234567890; y = 3.14159; z = 1e-10", "price: $42.00 (or €39,99) <tag attr=\"v\"> a|b a=b a<b>c ~^`",
        "if (a != b && c >= d) { return x => x * 2; } // comment", "def f(x):\n    return [i**2 for i in range(x)]\n",
        "e-mail: john.doe+spam@example.com, https://example.org/path?q=1&r=2#frag",
        "日本語のテキストです。漢字とひらがなとカタカナ。", "中文文本，包括标点符号！还有数字１２３。", "한국어 텍스트도 있습니다.",
        "Привет, мир! Ёлка.", "Ελληνικά: Σίσυφος ΣΊΣΥΦΟΣ", "العربية نص", "עברית", "हिन्दी पाठ", "ไทย ภาษา",
        "emoji 😀 👍🏽 👨‍👩‍👧 🇩🇪 ❤️", "math 𝐀𝐁𝐂 𝟘𝟙𝟚 𝔘𝔫𝔦", "CJK ext-B 𠀀𠀁 𪚥", "café naïve résumé Ångström façade",
        "combining: e\u0301 a\u0308 n\u0303", "ﬁ ﬂ ① ² ½ Ⅻ ｆｕｌｌｗｉｄｔｈ", "zero\u200bwidth\u200djoiner\ufeffbom",
        "control\u0001chars\u007f\u0085here", "İstanbul ıi ß ẞ", "ALL CAPS SHOUTING 123ABC abc123",
        "a" + new string('b', 120) + " longword", "snake_case camelCase PascalCase kebab-case SCREAMING_CASE",
        "<|endoftext|> <s> </s> [CLS] [SEP] <|im_start|>", "   ", "", "x", "!!!???...", "----====____",
    ];

    /// <summary>Samples, then up to <paramref name="chunks"/> chunks of real text.</summary>
    public static IReadOnlyList<string> Texts(int chunks = 2500)
    {
        var all = new List<string>();
        foreach (string file in Files())
        {
            string[] lines = File.ReadAllText(file).Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
            for (int i = 0; i + 4 <= lines.Length; i += 4)
            {
                all.Add(string.Join('\n', lines, i, 4));
            }
        }

        var texts = new List<string>(Samples);
        double step = Math.Max(1.0, all.Count / (double)chunks);
        for (double i = 0; i < all.Count && texts.Count < Samples.Length + chunks; i += step)
        {
            texts.Add(all[(int)i]);
        }

        return texts;
    }

    private static IEnumerable<string> Files()
    {
        string root = ReferenceTools.RepoRoot;
        var files = new List<string>();
        foreach (var (dir, pattern) in new[] { ("src", "*.cs"), ("docs", "*.md") })
        {
            string d = Path.Combine(root, dir);
            if (Directory.Exists(d))
            {
                files.AddRange(Directory.GetFiles(d, pattern, SearchOption.AllDirectories).Order(StringComparer.Ordinal));
            }
        }

        foreach (string name in new[] { "GPL-3", "Apache-2.0", "Artistic", "MPL-2.0" })
        {
            string f = Path.Combine("/usr/share/common-licenses", name);
            if (File.Exists(f))
            {
                files.Add(f);
            }
        }

        return files;
    }
}
