namespace Pretrain.Data.Text;

/// <summary>
/// What <see cref="TokenizerFactory.Create(TokenizerOptions)"/> builds: the recipe's <c>tokenizer</c> section.
/// </summary>
public sealed record TokenizerOptions
{
    /// <summary>One of <see cref="TokenizerFactory.Kinds"/>.</summary>
    public required string Kind { get; init; }

    /// <summary>tiktoken encoding (gpt2, r50k_base, cl100k_base, o200k_base); ignored by other kinds.</summary>
    public string? Name { get; init; }

    /// <summary>EOS token text; must be a special token of a tiktoken encoding, and for vocabulary-based kinds is
    /// looked up in the vocabulary (appended after it when absent; WordPiece requires it, e.g. [SEP]).</summary>
    public required string EosToken { get; init; }

    /// <summary>
    /// Tokenizer files: wordpiece a vocab.txt (or its folder), sentencepiece a .model file (or a folder holding
    /// tokenizer.model), bpe a folder with vocab.json + merges.txt (or the vocab.json beside merges.txt), hf-json a
    /// tokenizer.json (or its folder), tiktoken an optional ranks file; byte needs none.
    /// </summary>
    public string? Path { get; init; }

    /// <summary>Further special tokens (after EOS): matched whole in text and given ids from the vocabulary or appended.</summary>
    public IReadOnlyList<string> SpecialTokens { get; init; } = [];

    /// <summary>WordPiece: lower-case (and strip accents) before splitting; null means true (bert-base-uncased).
    /// hf-json takes it from the file's normalizer unless set here.</summary>
    public bool? LowerCase { get; init; }
}
