using System.Text.Json;
using Microsoft.ML.Tokenizers;

namespace Pretrain.Data.Text;

/// <summary>
/// A Hugging Face <c>tokenizer.json</c> with a BPE or WordPiece model, parsed here and built as the matching
/// Microsoft.ML.Tokenizers tokenizer: BPE with a ByteLevel pre-tokenizer or decoder → byte-level BPE (as
/// <see cref="BpeTextTokenizer"/>); other BPE → plain BPE split on whitespace (Whitespace, WhitespaceSplit,
/// BertPreTokenizer); WordPiece → <see cref="WordPieceTextTokenizer"/> (lower-casing from a BertNormalizer or
/// Lowercase normalizer). <c>added_tokens</c> marked special become special tokens (matched whole in text).
/// Unsupported: Unigram/WordLevel models, Metaspace pre-tokenizers (use the SentencePiece .model instead),
/// <c>add_prefix_space</c>, post-processors (no special tokens are added by <see cref="Encode"/>).
/// </summary>
public sealed class HfJsonTextTokenizer : ITextTokenizer, ISpecialTokens
{
    /// <summary>File name inside a saved tokenizer folder.</summary>
    public const string FileName = "tokenizer.json";

    private readonly ITextTokenizer _inner;
    private readonly ISpecialTokens _innerSpecials;
    private readonly string _json;
    private readonly IReadOnlyList<string> _recipeSpecials;
    private readonly bool? _lowerCase;

    private HfJsonTextTokenizer(ITextTokenizer inner, string json, IReadOnlyList<string> recipeSpecials, bool? lowerCase)
    {
        _inner = inner;
        _innerSpecials = (ISpecialTokens)inner;
        _json = json;
        _recipeSpecials = recipeSpecials;
        _lowerCase = lowerCase;
    }

    /// <summary>Loads a tokenizer.json.</summary>
    /// <param name="path">The file, or its folder.</param>
    /// <param name="eosToken">EOS token (e.g. &lt;/s&gt;, [SEP], &lt;|endoftext|&gt;).</param>
    /// <param name="lowerCase">WordPiece: overrides the file's normalizer setting.</param>
    /// <param name="specialTokens">Further special tokens from the recipe.</param>
    public static HfJsonTextTokenizer Load(string path, string eosToken, bool? lowerCase = null, IReadOnlyList<string>? specialTokens = null)
    {
        string file = TokenizerFiles.Find(path, "hf-json", FileName, ".json");
        string json;
        try
        {
            json = File.ReadAllText(file);
        }
        catch (IOException e)
        {
            throw new DataException($"{file} could not be read: {e.Message}", e);
        }

        var recipe = specialTokens ?? [];
        try
        {
            using var doc = JsonDocument.Parse(json);
            return new HfJsonTextTokenizer(Build(doc.RootElement, file, eosToken, lowerCase, recipe), json, recipe, lowerCase);
        }
        catch (JsonException e)
        {
            throw new DataException($"{file} is not valid JSON (line {e.LineNumber + 1}: {e.Message.ReplaceLineEndings(" ")}).", e);
        }
        catch (Exception e) when (e is InvalidOperationException or KeyNotFoundException or FormatException)
        {
            throw new DataException($"{file} is not a tokenizer.json this reader understands ({e.Message}).", e);
        }
    }

    private static ITextTokenizer Build(JsonElement root, string file, string eosToken, bool? lowerCase, IReadOnlyList<string> recipeSpecials)
    {
        if (!root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
        {
            throw new DataException($"{file} has no 'model' object; is it a Hugging Face tokenizer.json?");
        }

        string type = Str(model, "type") ?? (model.TryGetProperty("merges", out _) ? "BPE" : "WordPiece");
        var specials = new List<string>(recipeSpecials);
        if (root.TryGetProperty("added_tokens", out var added) && added.ValueKind == JsonValueKind.Array)
        {
            foreach (var t in added.EnumerateArray())
            {
                if (t.TryGetProperty("special", out var sp) && sp.ValueKind == JsonValueKind.True && Str(t, "content") is { } content)
                {
                    if (content.Length == 0)
                    {
                        // Found by tools/fuzz: the empty token was blamed on the recipe's tokenizer.special_tokens.
                        throw new DataException($"{file}: added_tokens holds a special token with empty content; remove it or give it its text.");
                    }

                    specials.Add(content);
                }
            }
        }

        if (type is not ("BPE" or "WordPiece"))
        {
            throw new DataException($"{file}: model type '{type}' is not supported (BPE and WordPiece are); " +
                "for a SentencePiece model give its .model file with tokenizer.kind sentencepiece.");
        }

        var vocab = ReadVocab(model, file);
        switch (type)
        {
            case "BPE":
                return BuildBpe(root, model, vocab, file, eosToken, specials);
            default:
                var lines = new string[vocab.Count];
                foreach (var (token, id) in vocab)
                {
                    if (id < 0 || id >= lines.Length || lines[id] is not null)
                    {
                        throw new DataException($"{file}: WordPiece ids must be 0..{vocab.Count - 1}, each once; '{token}' has {id}.");
                    }

                    lines[id] = token;
                }

                bool lower = lowerCase ?? NormalizerLowercases(root);
                return WordPieceTextTokenizer.FromVocab(lines, eosToken, lower, specials, file,
                    Str(model, "unk_token") ?? "[UNK]", Str(model, "continuing_subword_prefix") ?? "##",
                    model.TryGetProperty("max_input_chars_per_word", out var max) && max.TryGetInt32(out int maxChars) ? maxChars : 100);
        }
    }

    private static BpeTextTokenizer BuildBpe(JsonElement root, JsonElement model, Dictionary<string, int> vocab, string file, string eosToken,
        List<string> specials)
    {
        var merges = new List<string>();
        if (model.TryGetProperty("merges", out var m) && m.ValueKind == JsonValueKind.Array)
        {
            foreach (var merge in m.EnumerateArray())
            {
                if (merge.ValueKind == JsonValueKind.String)
                {
                    merges.Add(merge.GetString()!);
                }
                else if (merge.ValueKind == JsonValueKind.Array && merge.GetArrayLength() == 2
                    && merge[0].ValueKind == JsonValueKind.String && merge[1].ValueKind == JsonValueKind.String)
                {
                    string a = merge[0].GetString()!, b = merge[1].GetString()!;
                    if (a.Contains(' ', StringComparison.Ordinal) || b.Contains(' ', StringComparison.Ordinal))
                    {
                        throw new DataException($"{file}: merge ['{a}', '{b}'] has a space inside a token, which this reader cannot represent.");
                    }

                    merges.Add(a + " " + b);
                }
                else
                {
                    throw new DataException($"{file}: model.merges entries must be \"a b\" strings or [a, b] pairs, got {merge.GetRawText()}.");
                }
            }
        }

        var preTypes = Types(root, "pre_tokenizer", "pretokenizers");
        bool byteLevel = preTypes.Contains("ByteLevel") || Types(root, "decoder", "decoders").Contains("ByteLevel");
        Func<IReadOnlyDictionary<string, int>, PreTokenizer>? pre = null;
        if (!byteLevel)
        {
            string? unsupported = preTypes.FirstOrDefault(t => t is not ("Whitespace" or "WhitespaceSplit" or "BertPreTokenizer"));
            if (unsupported is not null)
            {
                throw new DataException($"{file}: pre-tokenizer '{unsupported}' is not supported for BPE (ByteLevel, Whitespace, WhitespaceSplit and " +
                    "BertPreTokenizer are); for a SentencePiece-style model give its .model file with tokenizer.kind sentencepiece.");
            }

            pre = preTypes.Contains("WhitespaceSplit") ? PreTokenizer.CreateWhiteSpace
                : preTypes.Contains("BertPreTokenizer") ? PreTokenizer.CreateWordOrPunctuation
                : PreTokenizer.CreateWordOrNonWord;
        }

        bool fuse = model.TryGetProperty("fuse_unk", out var f) && f.ValueKind == JsonValueKind.True;
        var bpe = new BpeModel(vocab, merges, byteLevel, Str(model, "unk_token"), Str(model, "continuing_subword_prefix"),
            Str(model, "end_of_word_suffix"), fuse, pre);
        return BpeTextTokenizer.FromModel(bpe, eosToken, specials, file);
    }

    private static Dictionary<string, int> ReadVocab(JsonElement model, string file)
    {
        if (!model.TryGetProperty("vocab", out var v) || v.ValueKind != JsonValueKind.Object)
        {
            throw new DataException($"{file}: model.vocab must be an object of token → id.");
        }

        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var p in v.EnumerateObject())
        {
            vocab[p.Name] = p.Value.GetInt32();
        }

        return vocab;
    }

    /// <summary>Component types of a section that is one component or a Sequence of them.</summary>
    private static HashSet<string> Types(JsonElement root, string section, string listKey)
    {
        var types = new HashSet<string>(StringComparer.Ordinal);
        if (!root.TryGetProperty(section, out var s) || s.ValueKind != JsonValueKind.Object)
        {
            return types;
        }

        if (Str(s, "type") == "Sequence" && s.TryGetProperty(listKey, out var list) && list.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in list.EnumerateArray())
            {
                if (Str(item, "type") is { } t)
                {
                    types.Add(t);
                }
            }
        }
        else if (Str(s, "type") is { } t)
        {
            types.Add(t);
        }

        return types;
    }

    private static bool NormalizerLowercases(JsonElement root)
    {
        if (!root.TryGetProperty("normalizer", out var n) || n.ValueKind != JsonValueKind.Object)
        {
            return false;
        }

        var items = Str(n, "type") == "Sequence" && n.TryGetProperty("normalizers", out var list) && list.ValueKind == JsonValueKind.Array
            ? list.EnumerateArray().ToList()
            : [n];
        return items.Any(i => Str(i, "type") switch
        {
            "Lowercase" => true,
            "BertNormalizer" => !i.TryGetProperty("lowercase", out var l) || l.ValueKind != JsonValueKind.False,
            _ => false,
        });
    }

    private static string? Str(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    public string Kind => "hf-json";

    /// <summary>"BPE" or "WordPiece".</summary>
    public string ModelType => _inner is WordPieceTextTokenizer ? "WordPiece" : "BPE";

    public int VocabSize => _inner.VocabSize;

    public int EosId => _inner.EosId;

    public int? PadId => _innerSpecials.PadId;

    public int? ClsId => _innerSpecials.ClsId;

    public int? SepId => _innerSpecials.SepId;

    public int? MaskId => _innerSpecials.MaskId;

    public int? UnkId => _innerSpecials.UnkId;

    public int[] Encode(string text) => _inner.Encode(text);

    public string Decode(IReadOnlyList<int> ids) => _inner.Decode(ids);

    /// <summary>Writes tokenizer.json as read and tokenizer_config.json.</summary>
    public void Save(string directory)
    {
        TokenizerFiles.Write(directory, FileName, _json);
        string eos = _inner switch
        {
            WordPieceTextTokenizer w => w.EosToken,
            BpeTextTokenizer b => b.EosToken,
            _ => throw new InvalidOperationException("unexpected inner tokenizer"),
        };
        new TokenizerConfig
        {
            Kind = Kind,
            EosToken = eos,
            EosId = EosId,
            VocabSize = VocabSize,
            SpecialTokens = [eos, .. _recipeSpecials.Where(s => s != eos)],
            Files = [FileName],
            LowerCase = _lowerCase,
        }.Write(directory);
    }
}
