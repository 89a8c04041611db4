using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.ML.Tokenizers;

namespace Pretrain.Data.Text;

/// <summary>
/// Hugging Face byte-level BPE (GPT-2 / RoBERTa layout: <c>vocab.json</c> + <c>merges.txt</c>) through
/// Microsoft.ML.Tokenizers' <see cref="BpeTokenizer"/>: text is split by GPT-2's regex, each piece's UTF-8 bytes are
/// written in the byte-level alphabet (space → 'Ġ') and merged by rank. Special tokens (EOS first) keep their
/// vocabulary ids or are appended after the largest id, and are matched whole in text. Reads what
/// <c>pretrain tokenizer train</c> writes.
/// </summary>
public sealed class BpeTextTokenizer : ITextTokenizer, ISpecialTokens
{
    /// <summary>Vocabulary file name (token → id JSON object).</summary>
    public const string VocabFile = "vocab.json";

    /// <summary>Merges file name ("#version" header, then one "left right" pair per line).</summary>
    public const string MergesFile = "merges.txt";

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = false,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    private readonly BpeTokenizer _tokenizer;
    private readonly BpeModel _model;
    private readonly SpecialTokenTable _specials;
    private readonly Dictionary<string, int> _vocab;

    private BpeTextTokenizer(BpeTokenizer tokenizer, BpeModel model, Dictionary<string, int> vocab, SpecialTokenTable specials)
    {
        _tokenizer = tokenizer;
        _model = model;
        _vocab = vocab;
        _specials = specials;
        EosToken = specials.Tokens[0];
        EosId = specials.Ids[EosToken];
        VocabSize = specials.VocabSize;
        var ids = SpecialTokenIds.Find(TokenToId);
        PadId = ids.PadId;
        ClsId = ids.ClsId;
        SepId = ids.SepId;
        MaskId = ids.MaskId;
        UnkId = model.UnknownToken is { } unk && vocab.TryGetValue(unk, out int u) ? u : ids.UnkId;
    }

    /// <summary>Loads vocab.json + merges.txt.</summary>
    /// <param name="path">The folder holding both, or the vocab.json with merges.txt beside it.</param>
    /// <param name="eosToken">EOS token; taken from the vocabulary, or appended after it.</param>
    /// <param name="specialTokens">Further special tokens, matched whole in text.</param>
    public static BpeTextTokenizer Load(string path, string eosToken, IReadOnlyList<string>? specialTokens = null)
    {
        string vocabPath = TokenizerFiles.Find(path, "bpe", VocabFile, ".json");
        string mergesPath = Path.Combine(Path.GetDirectoryName(vocabPath)!, MergesFile);
        if (!File.Exists(mergesPath))
        {
            throw new DataException($"{mergesPath} not found: a bpe tokenizer needs merges.txt beside {Path.GetFileName(vocabPath)}.");
        }

        Dictionary<string, int> vocab;
        try
        {
            vocab = JsonSerializer.Deserialize<Dictionary<string, int>>(File.ReadAllText(vocabPath))
                ?? throw new DataException($"{vocabPath} is empty; it should be a JSON object of token → id.");
        }
        catch (JsonException e)
        {
            throw new DataException($"{vocabPath} is not a JSON object of token → id (line {e.LineNumber + 1}: {e.Message}).", e);
        }

        var merges = ReadMerges(mergesPath);
        return FromModel(new BpeModel(vocab, merges), eosToken, specialTokens, vocabPath);
    }

    /// <summary>Merge lines of a merges.txt: "#version" header and blank lines skipped; each line two tokens.</summary>
    internal static List<string> ReadMerges(string path)
    {
        var merges = new List<string>();
        int lineNo = 0;
        foreach (string raw in File.ReadLines(path))
        {
            lineNo++;
            string line = raw.TrimEnd('\r');
            if (line.Length == 0 || (lineNo == 1 && line.StartsWith("#version", StringComparison.Ordinal)))
            {
                continue;
            }

            int space = line.IndexOf(' ', StringComparison.Ordinal);
            if (space <= 0 || space == line.Length - 1 || line.IndexOf(' ', space + 1) >= 0)
            {
                throw new DataException($"{path}:{lineNo}: a merge is two tokens separated by one space, got '{line}'.");
            }

            merges.Add(line);
        }

        return merges;
    }

    /// <summary>Builds the tokenizer from a model in memory (bpe files, tokenizer.json, the trainer).</summary>
    internal static BpeTextTokenizer FromModel(BpeModel model, string eosToken, IReadOnlyList<string>? specialTokens, string source)
    {
        var vocab = new Dictionary<string, int>(model.Vocab, StringComparer.Ordinal);
        var table = SpecialTokenTable.Build(eosToken, specialTokens, t => vocab.TryGetValue(t, out int id) ? id : null,
            vocab.Count == 0 ? 0 : vocab.Values.Max() + 1);
        foreach (var (token, id) in table.Added)
        {
            vocab[token] = id;
        }

        foreach (string merge in model.Merges)
        {
            int space = merge.IndexOf(' ', StringComparison.Ordinal);
            if (space < 0)
            {
                throw new DataException($"{source}: merge '{merge}' is not two tokens separated by a space; merges.txt may be damaged.");
            }

            string joined = string.Concat(merge.AsSpan(0, space), merge.AsSpan(space + 1));
            if (model.ByteLevel && !vocab.ContainsKey(joined))
            {
                throw new DataException($"{source}: merge '{merge}' makes '{joined}', which is not in the vocabulary; vocab.json and merges.txt do not belong together.");
            }
        }

        var pre = model.ByteLevel
            ? new RegexPreTokenizer(ByteLevelAlphabet.Regex, table.Ids)
            : model.PreTokenizer?.Invoke(table.Ids) ?? PreTokenizer.CreateWhiteSpace(table.Ids);
        var options = new BpeOptions(vocab)
        {
            Merges = model.Merges,
            ByteLevel = model.ByteLevel,
            PreTokenizer = pre,
            SpecialTokens = table.Ids,
            UnknownToken = model.UnknownToken,
            ContinuingSubwordPrefix = model.ContinuingSubwordPrefix,
            EndOfWordSuffix = model.EndOfWordSuffix,
            FuseUnknownTokens = model.FuseUnknown,
        };
        try
        {
            return new BpeTextTokenizer(BpeTokenizer.Create(options), model, vocab, table);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException or KeyNotFoundException)
        {
            throw new DataException($"{source} could not be loaded as a BPE tokenizer ({e.Message}).", e);
        }
    }

    public string Kind => "bpe";

    public int VocabSize { get; }

    public int EosId { get; }

    public string EosToken { get; }

    /// <summary>Special tokens, EOS first.</summary>
    public IReadOnlyList<string> SpecialTokens => _specials.Tokens;

    public int? PadId { get; }

    public int? ClsId { get; }

    public int? SepId { get; }

    public int? MaskId { get; }

    public int? UnkId { get; }

    /// <summary>Id of a token (in vocab.json form, e.g. "Ġthe") or special token, or null.</summary>
    public int? TokenToId(string token) => _vocab.TryGetValue(token, out int id) ? id : null;

    public int[] Encode(string text) => [.. _tokenizer.EncodeToIds(text)];

    public string Decode(IReadOnlyList<int> ids) => _tokenizer.Decode(ids) ?? "";

    /// <summary>Writes vocab.json (appended specials included), merges.txt and tokenizer_config.json.</summary>
    public void Save(string directory)
    {
        if (!_model.ByteLevel)
        {
            throw new InvalidOperationException("Only byte-level BPE is saved as vocab.json + merges.txt; save the tokenizer.json it came from.");
        }

        WriteFiles(directory, _vocab, _model.Merges);
        new TokenizerConfig
        {
            Kind = Kind,
            EosToken = EosToken,
            EosId = EosId,
            VocabSize = VocabSize,
            SpecialTokens = _specials.Tokens,
            Files = [VocabFile, MergesFile],
        }.Write(directory);
    }

    /// <summary>Writes vocab.json (tokens in id order) and merges.txt (with the "#version: 0.2" header).</summary>
    internal static void WriteFiles(string directory, IReadOnlyDictionary<string, int> vocab, IEnumerable<string> merges)
    {
        var ordered = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (token, id) in vocab.OrderBy(kv => kv.Value))
        {
            ordered[token] = id;
        }

        TokenizerFiles.Write(directory, VocabFile, JsonSerializer.Serialize(ordered, JsonOptions));
        var sb = new StringBuilder("#version: 0.2\n");
        foreach (string merge in merges)
        {
            sb.Append(merge).Append('\n');
        }

        TokenizerFiles.Write(directory, MergesFile, sb.ToString());
    }
}
