using Pretrain.Data.Text.HuggingFace;

namespace Pretrain.Data.Text;

/// <summary>
/// BERT WordPiece over a <c>vocab.txt</c> (one token per line, id = line number), id for id as Hugging Face's
/// BertNormalizer + BertPreTokenizer + WordPiece give them (docs/tokenizers.md): control characters dropped and
/// whitespace (tabs, newlines) made spaces, each CJK ideograph its own word, accents stripped and text lower-cased
/// when <see cref="LowerCase"/>; split on whitespace and around each punctuation character (ASCII <c>$ + &lt; = &gt; ^ ` | ~</c>
/// included); then greedy longest-match sub-words with the <c>##</c> prefix, a word over 100 characters or with an
/// unmatched part (an emoji) being [UNK]. [PAD] [UNK] [CLS] [SEP] [MASK] and the recipe's specials are matched whole
/// in text and take their ids from the vocabulary. <see cref="Encode"/> adds no [CLS]/[SEP]; use
/// <see cref="ISpecialTokens"/> for them.
/// </summary>
public sealed class WordPieceTextTokenizer : ITextTokenizer, ISpecialTokens
{
    /// <summary>File name inside a saved tokenizer folder.</summary>
    public const string VocabFile = "vocab.txt";

    private static readonly string[] BertSpecials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];

    private readonly HfPipeline _pipeline;
    private readonly string[] _vocabLines;
    private readonly string[] _specials;
    private readonly Dictionary<string, int> _ids = new(StringComparer.Ordinal);

    private WordPieceTextTokenizer(HfPipeline pipeline, string[] vocabLines, string eosToken, string[] specials,
        bool lowerCase, string source)
    {
        _pipeline = pipeline;
        _vocabLines = vocabLines;
        _specials = specials;
        LowerCase = lowerCase;
        for (int i = 0; i < vocabLines.Length; i++)
        {
            _ids.TryAdd(vocabLines[i], i);
        }

        var vocab = _ids;
        if (!vocab.TryGetValue(eosToken, out int eos))
        {
            throw new DataException(
                $"tokenizer.eos_token '{eosToken}' is not in {source}; a WordPiece vocabulary has no EOS of its own: " +
                "set tokenizer.eos_token to one of its tokens (BERT: [SEP]).");
        }

        foreach (string s in specials)
        {
            if (!vocab.ContainsKey(s))
            {
                throw new DataException(
                    $"special token '{s}' is not in {source}; WordPiece cannot add tokens: put it on a line of vocab.txt " +
                    "(BERT vocabularies have [unusedN] lines for this) or drop it from tokenizer.special_tokens.");
            }
        }

        EosToken = eosToken;
        EosId = eos;
        VocabSize = vocabLines.Length;
        var ids = SpecialTokenIds.Find(TokenToId);
        PadId = ids.PadId;
        ClsId = ids.ClsId;
        SepId = ids.SepId;
        MaskId = ids.MaskId;
        UnkId = ids.UnkId;
    }

    /// <summary>Loads a vocab.txt (CRLF or LF; a trailing empty line is ignored).</summary>
    /// <param name="path">vocab.txt or the folder holding it.</param>
    /// <param name="eosToken">A token of the vocabulary used as EOS between packed documents ([SEP] for BERT).</param>
    /// <param name="lowerCase">Lower-case and strip accents first (uncased vocabularies); null means true.</param>
    /// <param name="specialTokens">Further special tokens; each must be in the vocabulary.</param>
    public static WordPieceTextTokenizer Load(string path, string eosToken, bool? lowerCase = null, IReadOnlyList<string>? specialTokens = null)
    {
        string file = TokenizerFiles.Find(path, "wordpiece", VocabFile, ".txt");
        string[] lines;
        try
        {
            lines = ReadVocabLines(File.ReadAllText(file));
        }
        catch (IOException e)
        {
            throw new DataException($"{file} could not be read: {e.Message}", e);
        }

        return FromVocab(lines, eosToken, lowerCase ?? true, specialTokens, file, "[UNK]", "##", 100);
    }

    /// <summary>Builds from vocabulary lines in id order (also used for tokenizer.json WordPiece models).</summary>
    internal static WordPieceTextTokenizer FromVocab(string[] lines, string eosToken, bool lowerCase,
        IReadOnlyList<string>? specialTokens, string source, string unknownToken, string prefix, int maxInputCharsPerWord)
    {
        if (lines.Length == 0)
        {
            throw new DataException($"{source} holds no tokens; a WordPiece vocabulary has one token per line.");
        }

        if (maxInputCharsPerWord <= 0)
        {
            throw new DataException($"{source}: max_input_chars_per_word is {maxInputCharsPerWord}; it must be positive (BERT uses 100).");
        }

        string[] specials = [.. (specialTokens ?? []).Where(s => s != eosToken).Distinct(StringComparer.Ordinal)];
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < lines.Length; i++)
        {
            vocab.TryAdd(lines[i], i);
        }

        // Matched whole in text, as bert-base-uncased's tokenizer.json lists them; ones absent from vocab.txt are skipped
        // here and reported by the constructor when the recipe names them.
        var added = BertSpecials.Concat([eosToken, .. specials]).Distinct(StringComparer.Ordinal)
            .Where(vocab.ContainsKey)
            .Select(t => new HfAddedToken(t, vocab[t], Special: true))
            .ToList();
        var pipeline = new HfPipeline(
            HfNormalizer.Bert(cleanText: true, chineseChars: true, stripAccents: lowerCase, lowercase: lowerCase),
            HfPreTokenizer.Bert,
            new HfWordPiece(vocab, unknownToken, prefix, maxInputCharsPerWord, source),
            added,
            tokens => [HfDecoder.WordPiece(tokens, prefix, cleanup: true)]);
        return new WordPieceTextTokenizer(pipeline, lines, eosToken, specials, lowerCase, source);
    }

    /// <summary>Splits vocab.txt text into tokens: CR stripped, one trailing empty line dropped.</summary>
    internal static string[] ReadVocabLines(string text)
    {
        var lines = text.Replace("\r", "", StringComparison.Ordinal).Split('\n').ToList();
        while (lines.Count > 0 && lines[^1].Length == 0)
        {
            lines.RemoveAt(lines.Count - 1);
        }

        return [.. lines];
    }

    public string Kind => "wordpiece";

    public int VocabSize { get; }

    public int EosId { get; }

    public string EosToken { get; }

    /// <summary>Whether text is lower-cased (and accents stripped) first.</summary>
    public bool LowerCase { get; }

    public int? PadId { get; }

    public int? ClsId { get; }

    public int? SepId { get; }

    public int? MaskId { get; }

    public int? UnkId { get; }

    /// <summary>Token id of <paramref name="token"/>, or null when it is not in the vocabulary.</summary>
    public int? TokenToId(string token) => _ids.TryGetValue(token, out int id) ? id : null;

    public int[] Encode(string text) => _pipeline.Encode(text);

    /// <summary>Decodes ids; sub-words are joined and words separated by single spaces (WordPiece loses the original spacing).</summary>
    public string Decode(IReadOnlyList<int> ids) => _pipeline.Decode(ids);

    /// <summary>Writes vocab.txt (LF line ends) and tokenizer_config.json.</summary>
    public void Save(string directory)
    {
        TokenizerFiles.Write(directory, VocabFile, string.Join('\n', _vocabLines) + "\n");
        new TokenizerConfig
        {
            Kind = Kind,
            EosToken = EosToken,
            EosId = EosId,
            VocabSize = VocabSize,
            SpecialTokens = [EosToken, .. _specials],
            Files = [VocabFile],
            LowerCase = LowerCase,
        }.Write(directory);
    }
}
