using System.Text.Json;
using System.Text.Json.Nodes;

namespace Pretrain.Cli.Import;

/// <summary>
/// Writes an imported model's tokenizer/ folder: the source's tokenizer files copied as they are, and a
/// tokenizer_config.json naming the kind Pretrain.Data's TokenizerFactory loads (wordpiece for vocab.txt, hf-json for
/// tokenizer.json, bpe for vocab.json + merges.txt, sentencepiece for tokenizer.model).
/// </summary>
internal static class ImportTokenizer
{
    private static readonly string[] BertSpecials = ["[SEP]", "[PAD]", "[UNK]", "[CLS]", "[MASK]"];

    /// <summary>A WordPiece vocabulary (CRs stripped) with BERT's special tokens, lower-casing as given.</summary>
    public static void WriteWordPiece(string checkpoint, string vocabText, bool lowerCase = true)
    {
        var dir = Path.Combine(checkpoint, "tokenizer");
        Directory.CreateDirectory(dir);
        var text = vocabText.Replace("\r", "", StringComparison.Ordinal);
        File.WriteAllText(Path.Combine(dir, "vocab.txt"), text);
        var lines = text.Split('\n');
        var count = lines.Length > 0 && lines[^1].Length == 0 ? lines.Length - 1 : lines.Length;
        var sep = Array.IndexOf(lines, "[SEP]");
        WriteConfig(dir, new JsonObject
        {
            ["kind"] = "wordpiece",
            ["eos_token"] = "[SEP]",
            ["eos_id"] = sep,
            ["vocab_size"] = count,
            ["special_tokens"] = new JsonArray([.. BertSpecials.Select(s => (JsonNode)s)]),
            ["files"] = new JsonArray("vocab.txt"),
            ["lower_case"] = lowerCase,
        });
    }

    /// <summary>Copies the tokenizer files of a Hugging Face model folder; returns false when it has none.</summary>
    public static bool CopyFromHf(string source, string checkpoint, string modelType)
    {
        var dir = Path.Combine(checkpoint, "tokenizer");
        string[] files;
        string kind;
        if (File.Exists(Path.Combine(source, "tokenizer.json")))
            (kind, files) = ("hf-json", ["tokenizer.json"]);
        else if (File.Exists(Path.Combine(source, "vocab.txt")))
        {
            var lower = ReadLowerCase(source) ?? true;
            WriteWordPiece(checkpoint, File.ReadAllText(Path.Combine(source, "vocab.txt")), lower);
            return true;
        }
        else if (File.Exists(Path.Combine(source, "vocab.json")) && File.Exists(Path.Combine(source, "merges.txt")))
            (kind, files) = ("bpe", ["vocab.json", "merges.txt"]);
        else if (File.Exists(Path.Combine(source, "tokenizer.model")))
            (kind, files) = ("sentencepiece", ["tokenizer.model"]);
        else
            return false;
        Directory.CreateDirectory(dir);
        foreach (var f in files)
            File.Copy(Path.Combine(source, f), Path.Combine(dir, f));
        WriteConfig(dir, new JsonObject
        {
            ["kind"] = kind,
            ["eos_token"] = HfEosToken(source, kind) ?? modelType switch { "llama" => "</s>", "bert" => "[SEP]", _ => "<|endoftext|>" },
            ["files"] = new JsonArray([.. files.Select(f => (JsonNode)f)]),
        });
        return true;
    }

    /// <summary>
    /// The folder's own EOS token, as Hugging Face's tokenizer and generation read it: tokenizer_config.json's
    /// <c>eos_token</c> (a string or an AddedToken's <c>content</c>), else the token that config.json's, then
    /// generation_config.json's <c>eos_token_id</c> (the first of a list) names in tokenizer.json. A token tokenizer.json
    /// does not hold is passed over. Null when the folder names none (the model type's default is used).
    /// </summary>
    internal static string? HfEosToken(string source, string kind)
    {
        var tokenizer = kind == "hf-json" ? ReadJson(Path.Combine(source, "tokenizer.json")) : null;
        var byId = tokenizer is null ? null : TokenIds(tokenizer);
        bool Known(string token) => byId is null || byId.ContainsValue(token);
        var config = ReadJson(Path.Combine(source, "tokenizer_config.json"));
        var named = config?["eos_token"] switch
        {
            JsonValue v when v.TryGetValue<string>(out var s) => s,
            JsonObject o when o["content"] is JsonValue c && c.TryGetValue<string>(out var s) => s,
            _ => null,
        };
        if (named is { Length: > 0 } && Known(named))
            return named;
        foreach (var file in new[] { "config.json", "generation_config.json" })
        {
            if (byId is not null && TokenId(ReadJson(Path.Combine(source, file))?["eos_token_id"]) is int id && byId.TryGetValue(id, out var token))
                return token;
        }
        return null;
    }

    /// <summary>A token id as config.json writes it: a number, or the first of a list (Llama-3 Instruct lists several).</summary>
    internal static int? TokenId(JsonNode? node) => node switch
    {
        JsonValue v when v.TryGetValue<int>(out var i) => i,
        JsonArray { Count: > 0 } a when a[0] is JsonValue v && v.TryGetValue<int>(out var i) => i,
        _ => null,
    };

    /// <summary>id → token of a tokenizer.json: its added tokens and its model's vocab (an object, or Unigram's [token, score] list).</summary>
    private static Dictionary<int, string> TokenIds(JsonObject tokenizer)
    {
        var byId = new Dictionary<int, string>();
        switch (tokenizer["model"]?["vocab"])
        {
            case JsonObject vocab:
                foreach (var (token, id) in vocab)
                {
                    if (id is JsonValue v && v.TryGetValue<int>(out var i))
                        byId.TryAdd(i, token);
                }
                break;
            case JsonArray pieces:
                for (var i = 0; i < pieces.Count; i++)
                {
                    if (pieces[i] is JsonArray { Count: > 0 } p && p[0] is JsonValue t && t.TryGetValue<string>(out var token))
                        byId.TryAdd(i, token);
                }
                break;
        }
        foreach (var added in tokenizer["added_tokens"] as JsonArray ?? new JsonArray())
        {
            if (added?["id"] is JsonValue v && v.TryGetValue<int>(out var i) && added["content"] is JsonValue c && c.TryGetValue<string>(out var token))
                byId[i] = token;
        }
        return byId;
    }

    private static JsonObject? ReadJson(string path)
    {
        try
        {
            return File.Exists(path) ? JsonNode.Parse(File.ReadAllText(path)) as JsonObject : null;
        }
        catch (JsonException)
        {
            return null; // a broken side file: the defaults stand (tokenizer.json itself is checked when it is loaded)
        }
    }

    private static bool? ReadLowerCase(string source)
    {
        var path = Path.Combine(source, "tokenizer_config.json");
        try
        {
            return File.Exists(path) && JsonNode.Parse(File.ReadAllText(path)) is JsonObject o && o["do_lower_case"] is JsonValue v
                && v.TryGetValue<bool>(out var b) ? b : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static void WriteConfig(string dir, JsonObject config) =>
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
}
