namespace Pretrain.Data.Text;

/// <summary>Creates tokenizers from recipe settings (<c>tokenizer.kind/name/eos_token</c>) or from a saved folder.</summary>
public static class TokenizerFactory
{
    /// <summary>Valid values of <c>tokenizer.kind</c>.</summary>
    public static IReadOnlyList<string> Kinds { get; } = ["byte", "tiktoken"];

    /// <param name="kind">"byte" or "tiktoken".</param>
    /// <param name="name">tiktoken encoding (gpt2 when null); ignored for byte.</param>
    /// <param name="eosToken">EOS token text; for tiktoken one of the encoding's special tokens.</param>
    public static ITextTokenizer Create(string kind, string? name, string eosToken) => kind.ToLowerInvariant() switch
    {
        "byte" => new ByteLevelTokenizer([eosToken]),
        "tiktoken" => TiktokenTextTokenizer.Create(name, eosToken),
        _ => throw new DataException($"Unknown tokenizer.kind '{kind}'; valid: {string.Join(", ", Kinds)}."),
    };

    /// <summary>Recreates a tokenizer from the folder written by <see cref="ITextTokenizer.Save"/>.</summary>
    public static ITextTokenizer Load(string directory)
    {
        var config = TokenizerConfig.Read(directory);
        string path = Path.Combine(directory, TokenizerConfig.FileName);
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
            default:
                throw new DataException($"{path}: unknown kind '{config.Kind}'; valid: {string.Join(", ", Kinds)}.");
        }
    }
}
