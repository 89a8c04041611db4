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
            ["eos_token"] = modelType switch { "llama" => "</s>", "bert" => "[SEP]", _ => "<|endoftext|>" },
            ["files"] = new JsonArray([.. files.Select(f => (JsonNode)f)]),
        });
        return true;
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
