namespace Pretrain.Data.Text;

/// <summary>
/// Creates tokenizers from recipe settings (<c>tokenizer.kind/name/eos_token/path/special_tokens/lower_case</c>) or
/// from a saved folder. Every kind also implements <see cref="ISpecialTokens"/>.
/// </summary>
public static class TokenizerFactory
{
    /// <summary>Valid values of <c>tokenizer.kind</c>.</summary>
    public static IReadOnlyList<string> Kinds { get; } = ["byte", "tiktoken", "wordpiece", "sentencepiece", "bpe", "hf-json"];

    /// <param name="kind">"byte" or "tiktoken" (kinds that need files: use the overload with a path).</param>
    /// <param name="name">tiktoken encoding (gpt2 when null); ignored for byte.</param>
    /// <param name="eosToken">EOS token text; for tiktoken one of the encoding's special tokens.</param>
    public static ITextTokenizer Create(string kind, string? name, string eosToken) =>
        Create(new TokenizerOptions { Kind = kind, Name = name, EosToken = eosToken });

    /// <param name="kind">One of <see cref="Kinds"/>.</param>
    /// <param name="name">tiktoken encoding (gpt2 when null); ignored by other kinds.</param>
    /// <param name="eosToken">EOS token text.</param>
    /// <param name="path">Tokenizer files (see <see cref="TokenizerOptions.Path"/>); null for byte and packaged tiktoken.</param>
    /// <param name="specialTokens">Further special tokens after EOS.</param>
    /// <param name="lowerCase">WordPiece lower-casing (null: true; hf-json: the file's normalizer).</param>
    public static ITextTokenizer Create(string kind, string? name, string eosToken, string? path,
        IReadOnlyList<string>? specialTokens = null, bool? lowerCase = null) =>
        Create(new TokenizerOptions
        {
            Kind = kind,
            Name = name,
            EosToken = eosToken,
            Path = path,
            SpecialTokens = specialTokens ?? [],
            LowerCase = lowerCase,
        });

    /// <summary>Builds the tokenizer the options describe.</summary>
    /// <exception cref="DataException">Unknown kind, missing or unreadable files, or an EOS token the tokenizer cannot have.</exception>
    public static ITextTokenizer Create(TokenizerOptions options)
    {
        var specials = options.SpecialTokens;
        return options.Kind.ToLowerInvariant() switch
        {
            "byte" => new ByteLevelTokenizer([options.EosToken, .. specials.Where(s => s != options.EosToken).Distinct(StringComparer.Ordinal)]),
            "tiktoken" => options.Path is { } ranks
                ? TiktokenTextTokenizer.CreateFromRanks(options.Name ?? "gpt2", ranks, options.EosToken)
                : TiktokenTextTokenizer.Create(options.Name, options.EosToken),
            "wordpiece" => WordPieceTextTokenizer.Load(RequirePath(options), options.EosToken, options.LowerCase, specials),
            "sentencepiece" => SentencePieceTextTokenizer.Load(RequirePath(options), options.EosToken, specials),
            "bpe" => BpeTextTokenizer.Load(RequirePath(options), options.EosToken, specials),
            "hf-json" => HfJsonTextTokenizer.Load(RequirePath(options), options.EosToken, options.LowerCase, specials),
            _ => throw new DataException($"Unknown tokenizer.kind '{options.Kind}'; valid: {string.Join(", ", Kinds)}."),
        };
    }

    /// <summary>Recreates a tokenizer from the folder written by <see cref="ITextTokenizer.Save"/>.</summary>
    public static ITextTokenizer Load(string directory)
    {
        var config = TokenizerConfig.Read(directory);
        string path = Path.Combine(directory, TokenizerConfig.FileName);
        var rest = config.SpecialTokens.Where(s => s != config.EosToken).ToArray();
        switch (config.Kind)
        {
            case "byte":
                var specials = config.SpecialTokens.Count > 0 ? config.SpecialTokens : [config.EosToken];
                return new ByteLevelTokenizer(specials);
            case "tiktoken":
                string name = config.Name ?? throw new DataException($"{path}: a tiktoken tokenizer needs 'name'.");
                if (config.RanksFile is { } ranks && File.Exists(Path.Combine(directory, ranks)))
                {
                    return TiktokenTextTokenizer.CreateFromRanks(name, Path.Combine(directory, ranks), config.EosToken);
                }

                return TiktokenTextTokenizer.Create(name, config.EosToken);
            case "wordpiece" or "sentencepiece" or "bpe" or "hf-json":
                return Create(new TokenizerOptions
                {
                    Kind = config.Kind,
                    EosToken = config.EosToken,
                    Path = directory,
                    SpecialTokens = rest,
                    LowerCase = config.LowerCase,
                });
            default:
                throw new DataException($"{path}: unknown kind '{config.Kind}'; valid: {string.Join(", ", Kinds)}.");
        }
    }

    private static string RequirePath(TokenizerOptions options) =>
        options.Path ?? throw new DataException(
            $"tokenizer.kind '{options.Kind}' needs tokenizer.path (wordpiece: vocab.txt; sentencepiece: .model; " +
            "bpe: folder with vocab.json + merges.txt; hf-json: tokenizer.json).");
}
