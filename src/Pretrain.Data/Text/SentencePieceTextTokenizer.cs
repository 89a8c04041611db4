using Microsoft.ML.Tokenizers;

namespace Pretrain.Data.Text;

/// <summary>
/// A SentencePiece model (<c>.model</c>, BPE or unigram, as written by <c>spm_train</c>) through Microsoft.ML.Tokenizers'
/// <see cref="SentencePieceTokenizer"/>, which gives the reference library's ids. <see cref="Encode"/> adds no BOS/EOS.
/// The EOS token and further special tokens are looked up among the model's pieces; ones it lacks are appended
/// after its largest id.
/// </summary>
public sealed class SentencePieceTextTokenizer : ITextTokenizer, ISpecialTokens
{
    /// <summary>File name inside a saved tokenizer folder.</summary>
    public const string ModelFile = "tokenizer.model";

    private readonly SentencePieceTokenizer _tokenizer;
    private readonly byte[] _model;
    private readonly SpecialTokenTable _specials;

    private SentencePieceTextTokenizer(SentencePieceTokenizer tokenizer, byte[] model, SpecialTokenTable specials)
    {
        _tokenizer = tokenizer;
        _model = model;
        _specials = specials;
        EosToken = specials.Tokens[0];
        EosId = specials.Ids[EosToken];
        VocabSize = specials.VocabSize;
        var ids = SpecialTokenIds.Find(TokenToId);
        PadId = ids.PadId;
        ClsId = ids.ClsId;
        SepId = ids.SepId;
        MaskId = ids.MaskId;
        UnkId = tokenizer.UnknownId >= 0 ? tokenizer.UnknownId : ids.UnkId;
    }

    /// <summary>Loads a SentencePiece model.</summary>
    /// <param name="path">The .model file, or a folder holding tokenizer.model (or a single *.model).</param>
    /// <param name="eosToken">EOS piece (spm_train's default is &lt;/s&gt;); appended when the model lacks it.</param>
    /// <param name="specialTokens">Further special tokens, matched whole in text.</param>
    public static SentencePieceTextTokenizer Load(string path, string eosToken, IReadOnlyList<string>? specialTokens = null)
    {
        string file = TokenizerFiles.Find(path, "sentencepiece", ModelFile, ".model");
        try
        {
            byte[] model = File.ReadAllBytes(file);
            SentencePieceTokenizer plain;
            using (var stream = new MemoryStream(model, writable: false))
            {
                plain = SentencePieceTokenizer.Create(stream, addBeginningOfSentence: false, addEndOfSentence: false);
            }

            var vocab = plain.Vocabulary;
            var table = SpecialTokenTable.Build(eosToken, specialTokens, t => vocab.TryGetValue(t, out int id) ? id : null,
                vocab.Count == 0 ? 0 : vocab.Values.Max() + 1);
            if (table.Added.Count == 0 && specialTokens is not { Count: > 0 })
            {
                return new SentencePieceTextTokenizer(plain, model, table);
            }

            // Recreate with every special token registered, so each is matched whole in the text.
            using var again = new MemoryStream(model, writable: false);
            var withSpecials = SentencePieceTokenizer.Create(again, addBeginningOfSentence: false, addEndOfSentence: false, table.Ids);
            return new SentencePieceTextTokenizer(withSpecials, model, table);
        }
        catch (Exception e) when (e is not DataException and not OutOfMemoryException)
        {
            throw new DataException($"{file} could not be loaded as a SentencePiece model ({e.GetType().Name}: {e.Message}). " +
                "Give the .model file written by spm_train (not the .vocab).", e);
        }
    }

    public string Kind => "sentencepiece";

    public int VocabSize { get; }

    public int EosId { get; }

    public string EosToken { get; }

    public int? PadId { get; }

    public int? ClsId { get; }

    public int? SepId { get; }

    public int? MaskId { get; }

    public int? UnkId { get; }

    /// <summary>Id of a piece or special token, or null.</summary>
    public int? TokenToId(string token) =>
        _specials.Ids.TryGetValue(token, out int s) ? s : _tokenizer.Vocabulary.TryGetValue(token, out int id) ? id : null;

    public int[] Encode(string text) => [.. _tokenizer.EncodeToIds(text, addBeginningOfSentence: false, addEndOfSentence: false)];

    public string Decode(IReadOnlyList<int> ids) => _tokenizer.Decode(ids) ?? "";

    /// <summary>Writes the model as tokenizer.model and tokenizer_config.json.</summary>
    public void Save(string directory)
    {
        TokenizerFiles.Write(directory, ModelFile, _model);
        new TokenizerConfig
        {
            Kind = Kind,
            EosToken = EosToken,
            EosId = EosId,
            VocabSize = VocabSize,
            SpecialTokens = _specials.Tokens,
            Files = [ModelFile],
        }.Write(directory);
    }
}
