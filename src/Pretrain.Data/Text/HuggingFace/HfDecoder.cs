using System.Text;
using System.Text.Json;

namespace Pretrain.Data.Text.HuggingFace;

/// <summary>
/// A tokenizer.json <c>decoder</c> as a function from tokens to text: ByteLevel, Metaspace, ByteFallback, Fuse,
/// Strip, Replace, WordPiece, BPEDecoder and Sequence of these; without one, tokens are joined by spaces.
/// </summary>
internal static class HfDecoder
{
    public static Func<List<string>, List<string>> Parse(JsonElement d, string file)
    {
        if (d.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined)
        {
            return tokens => [string.Join(' ', tokens)];
        }

        string type = HfJson.Type(d, "decoder", file);
        switch (type)
        {
            case "Sequence":
                var steps = HfJson.Array(d, "decoders", file).Select(x => Parse(x, file)).ToArray();
                return tokens =>
                {
                    foreach (var step in steps)
                    {
                        tokens = step(tokens);
                    }

                    return tokens;
                };
            case "ByteLevel":
                return tokens => [ByteLevel(tokens)];
            case "Metaspace":
                string replacement = HfJson.Str(d, "replacement") ?? "\u2581";
                string scheme = HfJson.Str(d, "prepend_scheme") ?? (HfJson.Bool(d, "add_prefix_space", true) ? "always" : "never");
                // As Hugging Face: in the first token every replacement character is dropped (unless prepend_scheme is never).
                return tokens => [.. tokens.Select((t, i) =>
                    t.Replace(replacement, i == 0 && scheme != "never" ? "" : " ", StringComparison.Ordinal))];
            case "ByteFallback":
                return ByteFallback;
            case "Fuse":
                return tokens => [string.Concat(tokens)];
            case "Strip":
                string content = HfJson.Str(d, "content") ?? " ";
                int start = HfJson.Int(d, "start", 0), stop = HfJson.Int(d, "stop", 0);
                return tokens => [.. tokens.Select(t => Strip(t, content, start, stop))];
            case "Replace":
                string with = HfJson.Str(d, "content") ?? "";
                var pattern = HfJson.Pattern(d, file);
                var regex = HfJson.AsRegex(pattern, file);
                return tokens => [.. tokens.Select(t => ReplaceAll(t, regex, with))];
            case "WordPiece":
                string prefix = HfJson.Str(d, "prefix") ?? "##";
                bool cleanup = HfJson.Bool(d, "cleanup", true);
                return tokens => [WordPiece(tokens, prefix, cleanup)];
            case "BPEDecoder":
                string suffix = HfJson.Str(d, "suffix") ?? "</w>";
                return tokens => [.. tokens.Select((t, i) => t.Replace(suffix, i == tokens.Count - 1 ? "" : " ", StringComparison.Ordinal))];
            default:
                throw HfJson.Unsupported(file, "decoder", type, "ByteLevel, Metaspace, ByteFallback, Fuse, Strip, Replace, WordPiece, BPEDecoder, Sequence");
        }
    }

    /// <summary>Tokens in GPT-2's byte alphabet back to UTF-8 text; a token with other characters is kept as it is.</summary>
    public static string ByteLevel(List<string> tokens)
    {
        var bytes = new List<byte>();
        foreach (string t in tokens)
        {
            if (t.All(c => ByteLevelAlphabet.CharToByte.ContainsKey(c)))
            {
                bytes.AddRange(t.Select(c => ByteLevelAlphabet.CharToByte[c]));
            }
            else
            {
                bytes.AddRange(Encoding.UTF8.GetBytes(t));
            }
        }

        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    /// <summary>BERT's decode: sub-words (##) glued to the previous token, others after a space; cleanup undoes tokenization spaces.</summary>
    public static string WordPiece(List<string> tokens, string prefix, bool cleanup)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < tokens.Count; i++)
        {
            string t = tokens[i];
            if (i > 0 && t.StartsWith(prefix, StringComparison.Ordinal))
            {
                sb.Append(t, prefix.Length, t.Length - prefix.Length);
            }
            else
            {
                if (i > 0)
                {
                    sb.Append(' ');
                }

                sb.Append(t);
            }
        }

        if (!cleanup)
        {
            return sb.ToString();
        }

        return sb.Replace(" .", ".").Replace(" ?", "?").Replace(" !", "!").Replace(" ,", ",").Replace(" ' ", "'")
            .Replace(" n't", "n't").Replace(" 'm", "'m").Replace(" do not", " don't").Replace(" 's", "'s")
            .Replace(" 've", "'ve").Replace(" 're", "'re").ToString();
    }

    private static List<string> ByteFallback(List<string> tokens)
    {
        var result = new List<string>(tokens.Count);
        var pending = new List<byte>();
        void Flush()
        {
            if (pending.Count == 0)
            {
                return;
            }

            try
            {
                result.Add(new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(pending.ToArray()));
            }
            catch (DecoderFallbackException)
            {
                result.Add(new string('\uFFFD', pending.Count));
            }

            pending.Clear();
        }

        foreach (string t in tokens)
        {
            if (t.Length == 6 && t.StartsWith("<0x", StringComparison.Ordinal) && t[5] == '>'
                && byte.TryParse(t.AsSpan(3, 2), System.Globalization.NumberStyles.HexNumber, null, out byte b))
            {
                pending.Add(b);
            }
            else
            {
                Flush();
                result.Add(t);
            }
        }

        Flush();
        return result;
    }

    private static string Strip(string t, string content, int start, int stop)
    {
        int s = 0, e = t.Length;
        for (int i = 0; i < start && s + content.Length <= e && string.CompareOrdinal(t, s, content, 0, content.Length) == 0; i++)
        {
            s += content.Length;
        }

        for (int i = 0; i < stop && e - content.Length >= s && string.CompareOrdinal(t, e - content.Length, content, 0, content.Length) == 0; i++)
        {
            e -= content.Length;
        }

        return t[s..e];
    }

    private static string ReplaceAll(string t, HfRegex regex, string with)
    {
        var sb = new StringBuilder(t.Length);
        int prev = 0;
        foreach (var (start, end) in regex.Matches(t))
        {
            sb.Append(t, prev, start - prev).Append(with);
            prev = end;
        }

        return sb.Append(t, prev, t.Length - prev).ToString();
    }
}
