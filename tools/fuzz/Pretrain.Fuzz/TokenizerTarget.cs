using System.Text;
using System.Text.Json;
using Pretrain.Data.Text;

namespace Pretrain.Fuzz;

/// <summary>Tokenizer files: WordPiece vocab.txt, BPE vocab.json + merges.txt, and Hugging Face tokenizer.json.</summary>
public sealed class TokenizerTarget : IFuzzTarget
{
    private static readonly string[] HostileLines = ["", "##", "[UNK]", "a b c", "#version: 0.2", "\u0000", "Ġ", " ", "a", "a a", "\ud800", new string('x', 5000)];
    private static readonly string[] Strings = ["", "[UNK]", "##", "WordPiece", "BPE", "Unigram", "ByteLevel", "BertNormalizer", "Ġ", "a b", "<|endoftext|>"];
    private const string Sample = "Hello world, the quick brown fox! héllo ✓ [SEP] <|endoftext|> 12345";
    private readonly List<(string Kind, Dictionary<string, string> Files)> _seeds = [];

    public string Name => "tokenizer";

    public void Prepare(string workDir)
    {
        string[] words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "the", "quick", "##s", "##ing", "!", ",", "a", "b"];
        _seeds.Add(("wordpiece", new() { ["vocab.txt"] = string.Join('\n', words) + "\n" }));

        var vocab = new Dictionary<string, int>();
        foreach (char c in "abcdefghijklmnopqrstuvwxyzĠ,!")
            vocab[c.ToString()] = vocab.Count;
        string[] merges = ["h e", "l l", "he ll", "hell o", "Ġ w", "Ġw o"];
        foreach (var m in merges)
            vocab[m.Replace(" ", "", StringComparison.Ordinal)] = vocab.Count;
        vocab["<|endoftext|>"] = vocab.Count;
        _seeds.Add(("bpe", new()
        {
            ["vocab.json"] = JsonSerializer.Serialize(vocab),
            ["merges.txt"] = "#version: 0.2\n" + string.Join('\n', merges) + "\n",
        }));

        var hf = new Dictionary<string, object?>
        {
            ["version"] = "1.0",
            ["added_tokens"] = new[] { new { id = vocab.Count - 1, content = "<|endoftext|>", special = true } },
            ["normalizer"] = null,
            ["pre_tokenizer"] = new { type = "ByteLevel", add_prefix_space = false, trim_offsets = true, use_regex = true },
            ["decoder"] = new { type = "ByteLevel" },
            ["model"] = new { type = "BPE", vocab, merges = merges.Select(m => m.Split(' ')).ToArray() },
        };
        _seeds.Add(("hf-json", new() { ["tokenizer.json"] = JsonSerializer.Serialize(hf) }));
        var wp = new
        {
            added_tokens = words[..5].Select((t, i) => new { id = i, content = t, special = true }).ToArray(),
            normalizer = new { type = "BertNormalizer", lowercase = true },
            pre_tokenizer = new { type = "BertPreTokenizer" },
            model = new { type = "WordPiece", unk_token = "[UNK]", continuing_subword_prefix = "##", max_input_chars_per_word = 100, vocab = words.Select((t, i) => (t, i)).ToDictionary(x => x.t, x => x.i) },
        };
        _seeds.Add(("hf-json", new() { ["tokenizer.json"] = JsonSerializer.Serialize(wp) }));
    }

    public FuzzInput Next(Random random)
    {
        var (kind, files) = _seeds[random.Next(_seeds.Count)];
        var mutated = files.ToDictionary(kv => kv.Key, kv => Encoding.UTF8.GetBytes(kv.Value));
        string name = files.Keys.ElementAt(random.Next(files.Count));
        mutated[name] = random.Next(4) switch
        {
            0 => Mutate.Bytes(random, mutated[name]),
            _ when name.EndsWith(".json", StringComparison.Ordinal) => Encoding.UTF8.GetBytes(Mutate.Json(random, files[name], Strings)),
            _ => Encoding.UTF8.GetBytes(Mutate.Lines(random, files[name], HostileLines)),
        };
        return new FuzzInput(mutated, [kind]);
    }

    public void Run(FuzzInput input, string dir)
    {
        ITextTokenizer tokenizer = input.Sets[0] switch
        {
            "wordpiece" => WordPieceTextTokenizer.Load(Path.Combine(dir, "vocab.txt"), "[SEP]"),
            "bpe" => BpeTextTokenizer.Load(dir, "<|endoftext|>"),
            _ => HfJsonTextTokenizer.Load(Path.Combine(dir, "tokenizer.json"), input.Files["tokenizer.json"].Length % 2 == 0 ? "[SEP]" : "<|endoftext|>"),
        };
        var ids = tokenizer.Encode(Sample);
        tokenizer.Decode(ids);
    }

    public IReadOnlyList<string> Names(FuzzInput input) => [.. input.Files.Keys];
}
