using System.Text.Json;
using System.Text.Json.Serialization;

namespace Pretrain.Data.Text;

/// <summary>
/// Contents of <c>tokenizer_config.json</c>: which tokenizer, its special tokens and sizes.
/// Kept beside checkpoints and ONNX exports so a model travels with the tokenizer it was trained with.
/// </summary>
public sealed record TokenizerConfig
{
    /// <summary>File name inside a tokenizer folder.</summary>
    public const string FileName = "tokenizer_config.json";

    [JsonPropertyName("kind")]
    public required string Kind { get; init; }

    /// <summary>Encoding name for tiktoken (gpt2, r50k_base, cl100k_base, o200k_base); null for other kinds.</summary>
    [JsonPropertyName("name")]
    public string? Name { get; init; }

    [JsonPropertyName("eos_token")]
    public required string EosToken { get; init; }

    [JsonPropertyName("eos_id")]
    public int EosId { get; init; }

    [JsonPropertyName("vocab_size")]
    public int VocabSize { get; init; }

    /// <summary>Special tokens: byte-level in id order (ids 256, 257, ...); vocabulary-based kinds the recipe's
    /// specials, EOS first (ids from the vocabulary, or appended after it in this order).</summary>
    [JsonPropertyName("special_tokens")]
    public IReadOnlyList<string> SpecialTokens { get; init; } = [];

    /// <summary>Ranks file beside this one (tiktoken), relative to the folder; null when not written.</summary>
    [JsonPropertyName("ranks_file")]
    public string? RanksFile { get; init; }

    /// <summary>Model files beside this one (vocab.txt, tokenizer.model, vocab.json + merges.txt, tokenizer.json).</summary>
    [JsonPropertyName("files")]
    public IReadOnlyList<string>? Files { get; init; }

    /// <summary>WordPiece / hf-json: lower-case before splitting.</summary>
    [JsonPropertyName("lower_case")]
    public bool? LowerCase { get; init; }

    private static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public void Write(string directory)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, FileName), JsonSerializer.Serialize(this, Options));
    }

    public static TokenizerConfig Read(string directory)
    {
        string path = Path.Combine(directory, FileName);
        if (!File.Exists(path))
        {
            throw new DataException($"{path} not found: a tokenizer folder needs {FileName} (written by the trainer or `pretrain tokenizer`).");
        }

        try
        {
            return JsonSerializer.Deserialize<TokenizerConfig>(File.ReadAllText(path), Options)
                ?? throw new DataException($"{path} is empty.");
        }
        catch (JsonException e)
        {
            throw new DataException($"{path} is not a valid tokenizer config: {e.Message}", e);
        }
    }
}
