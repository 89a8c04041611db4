namespace Pretrain.Data.Text;

/// <summary>
/// Turns text into token ids and back. Implementations are thread-safe for <see cref="Encode"/> and
/// <see cref="Decode"/>, so a background producer may tokenize while the trainer decodes samples.
/// </summary>
public interface ITextTokenizer
{
    /// <summary>One of <see cref="TokenizerFactory.Kinds"/>; written to <c>tokenizer_config.json</c>.</summary>
    string Kind { get; }

    /// <summary>Number of ids, special tokens included (the embedding table size needed).</summary>
    int VocabSize { get; }

    /// <summary>Id of the end-of-sequence token that separates packed documents.</summary>
    int EosId { get; }

    /// <summary>Encodes text without adding any special token.</summary>
    int[] Encode(string text);

    /// <summary>Decodes ids to text; bytes that are not valid UTF-8 become U+FFFD.</summary>
    string Decode(IReadOnlyList<int> ids);

    /// <summary>Writes the files <see cref="TokenizerFactory.Load"/> needs to recreate this tokenizer.</summary>
    void Save(string directory);
}
