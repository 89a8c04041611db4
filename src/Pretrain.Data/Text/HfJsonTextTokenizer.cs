using System.Text.Json;
using Pretrain.Data.Text.HuggingFace;

namespace Pretrain.Data.Text;

/// <summary>
/// A Hugging Face <c>tokenizer.json</c>, encoded id for id as Hugging Face's tokenizers library does (checked against
/// it on real Llama-3, Qwen3, Llama-2, DeepSeek-V3 and BERT files; docs/tokenizers.md): the file's own normalizer,
/// pre-tokenizer (Split regexes, ByteLevel, Digits, Metaspace, BERT's, Sequences), BPE model (byte_fallback,
/// ignore_merges, fuse_unk, sub-word prefix/suffix) or WordPiece model, and added tokens (special or not, with
/// single_word/lstrip/rstrip/normalized) matched before pre-tokenization. <see cref="Encode"/> adds no special tokens
/// (the post-processor is read and checked but not applied). The recipe's EOS and special tokens keep their ids from
/// the file or are appended after its largest id. A component type this reader does not know is one error naming
/// the file and the type.
/// </summary>
public sealed class HfJsonTextTokenizer : ITextTokenizer, ISpecialTokens
{
    /// <summary>File name inside a saved tokenizer folder.</summary>
    public const string FileName = "tokenizer.json";

    private static readonly string[] PostProcessors = ["TemplateProcessing", "ByteLevel", "BertProcessing", "RobertaProcessing", "Sequence"];

    private readonly HfPipeline _pipeline;
    private readonly string _json;
    private readonly IReadOnlyList<string> _recipeSpecials;
    private readonly bool? _lowerCase;

    private HfJsonTextTokenizer(HfPipeline pipeline, string modelType, string json, string eosToken, IReadOnlyList<string> recipeSpecials, bool? lowerCase)
    {
        _pipeline = pipeline;
        _json = json;
        _recipeSpecials = recipeSpecials;
        _lowerCase = lowerCase;
        ModelType = modelType;
        EosToken = eosToken;
        EosId = pipeline.TokenToId(eosToken) ?? throw new InvalidOperationException("EOS was not given an id");
        VocabSize = pipeline.VocabSize;
        var ids = SpecialTokenIds.Find(pipeline.TokenToId);
        PadId = ids.PadId;
        ClsId = ids.ClsId;
        SepId = ids.SepId;
        MaskId = ids.MaskId;
        UnkId = pipeline.Model.UnknownToken is { } unk && pipeline.TokenToId(unk) is int u ? u : ids.UnkId;
    }

    /// <summary>Loads a tokenizer.json.</summary>
    /// <param name="path">The file, or its folder.</param>
    /// <param name="eosToken">EOS token (e.g. &lt;/s&gt;, [SEP], &lt;|endoftext|&gt;).</param>
    /// <param name="lowerCase">WordPiece with a BertNormalizer: overrides the file's lowercase (and strip_accents) setting.</param>
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
            var (pipeline, type) = Build(doc.RootElement, file, eosToken, lowerCase, recipe);
            return new HfJsonTextTokenizer(pipeline, type, json, eosToken, recipe, lowerCase);
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

    private static (HfPipeline, string) Build(JsonElement root, string file, string eosToken, bool? lowerCase, IReadOnlyList<string> recipeSpecials)
    {
        if (!root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
        {
            throw new DataException($"{file} has no 'model' object; is it a Hugging Face tokenizer.json?");
        }

        string type = HfJson.Str(model, "type") ?? (model.TryGetProperty("merges", out _) ? "BPE" : "WordPiece");
        if (type is not ("BPE" or "WordPiece"))
        {
            throw new DataException($"{file}: model type '{type}' is not supported (BPE and WordPiece are); " +
                "for a SentencePiece model give its .model file with tokenizer.kind sentencepiece.");
        }

        var vocab = ReadVocab(model, file);
        IHfModel hfModel = type == "BPE"
            ? HfBpe.Parse(model, vocab, file)
            : new HfWordPiece(vocab, HfJson.Str(model, "unk_token") ?? "[UNK]", HfJson.Str(model, "continuing_subword_prefix") ?? "##",
                HfJson.Int(model, "max_input_chars_per_word", 100), file);

        var added = ReadAddedTokens(root, file);
        var known = new Dictionary<string, int>(vocab, StringComparer.Ordinal);
        foreach (var t in added)
        {
            known[t.Content] = t.Id;
        }

        // The recipe's EOS and specials: the file's ids, else appended after the largest id; matched whole in raw text.
        var table = SpecialTokenTable.Build(eosToken, recipeSpecials, t => known.TryGetValue(t, out int id) ? id : null,
            known.Count == 0 ? 0 : known.Values.Max() + 1);
        foreach (string t in table.Tokens)
        {
            if (!added.Any(a => a.Content == t))
            {
                added.Add(new HfAddedToken(t, table.Ids[t], Special: true));
            }
        }

        if (root.TryGetProperty("post_processor", out var post) && post.ValueKind == JsonValueKind.Object
            && HfJson.Type(post, "post_processor", file) is var postType && !PostProcessors.Contains(postType))
        {
            throw HfJson.Unsupported(file, "post_processor", postType, string.Join(", ", PostProcessors));
        }

        var pipeline = new HfPipeline(
            HfNormalizer.Parse(Section(root, "normalizer"), file, lowerCase),
            HfPreTokenizer.Parse(Section(root, "pre_tokenizer"), file),
            hfModel,
            added,
            HfDecoder.Parse(Section(root, "decoder"), file));
        return (pipeline, type);
    }

    private static JsonElement Section(JsonElement root, string name) => root.TryGetProperty(name, out var s) ? s : default;

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

    private static List<HfAddedToken> ReadAddedTokens(JsonElement root, string file)
    {
        var added = new List<HfAddedToken>();
        if (!root.TryGetProperty("added_tokens", out var list) || list.ValueKind != JsonValueKind.Array)
        {
            return added;
        }

        foreach (var t in list.EnumerateArray())
        {
            string? content = HfJson.Str(t, "content");
            if (string.IsNullOrEmpty(content) || !t.TryGetProperty("id", out var idElement) || !idElement.TryGetInt32(out int id))
            {
                // Found by tools/fuzz: the empty token was blamed on the recipe's tokenizer.special_tokens.
                throw new DataException($"{file}: added_tokens holds an entry without content or id ({t.GetRawText()}); remove it or give it its text.");
            }

            bool special = HfJson.Bool(t, "special", false);
            added.Add(new HfAddedToken(content, id, special, HfJson.Bool(t, "single_word", false), HfJson.Bool(t, "lstrip", false),
                HfJson.Bool(t, "rstrip", false), HfJson.Bool(t, "normalized", !special)));
        }

        return added;
    }

    public string Kind => "hf-json";

    /// <summary>"BPE" or "WordPiece".</summary>
    public string ModelType { get; }

    /// <summary>The EOS token's text.</summary>
    public string EosToken { get; }

    public int VocabSize { get; }

    public int EosId { get; }

    public int? PadId { get; }

    public int? ClsId { get; }

    public int? SepId { get; }

    public int? MaskId { get; }

    public int? UnkId { get; }

    /// <summary>Id of a token (as the file spells it, e.g. "Ġthe" or "&lt;|im_start|&gt;"), or null.</summary>
    public int? TokenToId(string token) => _pipeline.TokenToId(token);

    public int[] Encode(string text) => _pipeline.Encode(text);

    public string Decode(IReadOnlyList<int> ids) => _pipeline.Decode(ids);

    /// <summary>Writes tokenizer.json as read and tokenizer_config.json.</summary>
    public void Save(string directory)
    {
        TokenizerFiles.Write(directory, FileName, _json);
        new TokenizerConfig
        {
            Kind = Kind,
            EosToken = EosToken,
            EosId = EosId,
            VocabSize = VocabSize,
            SpecialTokens = [EosToken, .. _recipeSpecials.Where(s => s != EosToken)],
            Files = [FileName],
            LowerCase = _lowerCase,
        }.Write(directory);
    }
}
