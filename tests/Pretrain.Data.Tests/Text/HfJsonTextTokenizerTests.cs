using System.Text.Json;
using Pretrain.Data.Text;

namespace Pretrain.Data.Tests.Text;

public sealed class HfJsonTextTokenizerTests
{
    [Fact]
    public void ByteLevelBpeModelMatchesTheVocabMergesFiles()
    {
        using var dir = new TempDir();
        var vocab = TinyBpe.Vocab();
        vocab["<|endoftext|>"] = vocab.Count;
        var json = new Dictionary<string, object?>
        {
            ["version"] = "1.0",
            ["added_tokens"] = new[] { new { id = 265, content = "<|endoftext|>", special = true } },
            ["normalizer"] = null,
            ["pre_tokenizer"] = new { type = "ByteLevel", add_prefix_space = false, trim_offsets = true, use_regex = true },
            ["decoder"] = new { type = "ByteLevel" },
            // Newer files write merges as pairs.
            ["model"] = new { type = "BPE", vocab, merges = TinyBpe.Merges.Select(m => m.Split(' ')).ToArray() },
        };
        File.WriteAllText(dir.File("tokenizer.json"), JsonSerializer.Serialize(json));
        var tok = TokenizerFactory.Create("hf-json", null, "<|endoftext|>", dir.Path);
        Assert.Equal("hf-json", tok.Kind);
        Assert.Equal("BPE", ((HfJsonTextTokenizer)tok).ModelType);
        Assert.Equal([259, 264, 265], tok.Encode("hello world<|endoftext|>"));
        Assert.Equal("héllo ✓ world", tok.Decode(tok.Encode("héllo ✓ world")));

        using var saved = new TempDir();
        tok.Save(saved.Path);
        Assert.True(File.Exists(saved.File("tokenizer.json")));
        Assert.Equal([259, 264], TokenizerFactory.Load(saved.Path).Encode("hello world"));
    }

    [Fact]
    public void WordPieceModelTakesLowerCasingFromTheNormalizer()
    {
        using var dir = new TempDir();
        string[] tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "##s", "!"];
        var json = new
        {
            added_tokens = tokens[..5].Select((t, i) => new { id = i, content = t, special = true }).ToArray(),
            normalizer = new { type = "BertNormalizer", clean_text = true, handle_chinese_chars = true, lowercase = true },
            pre_tokenizer = new { type = "BertPreTokenizer" },
            model = new
            {
                type = "WordPiece",
                unk_token = "[UNK]",
                continuing_subword_prefix = "##",
                max_input_chars_per_word = 100,
                vocab = tokens.Select((t, i) => (t, i)).ToDictionary(x => x.t, x => x.i),
            },
        };
        File.WriteAllText(dir.File("tokenizer.json"), JsonSerializer.Serialize(json));
        var tok = TokenizerFactory.Create("hf-json", null, "[SEP]", dir.File("tokenizer.json"));
        var sp = (ISpecialTokens)tok;
        Assert.Equal("WordPiece", ((HfJsonTextTokenizer)tok).ModelType);
        Assert.Equal([5, 6, 7, 8, 1], tok.Encode("Hello Worlds! xyz"));
        Assert.Equal((0, 1, 2, 3, 4), (sp.PadId, sp.UnkId, sp.ClsId, sp.SepId, sp.MaskId));
        Assert.Equal(3, tok.EosId);
    }

    [Fact]
    public void UnsupportedModelTypeIsAClearError()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("tokenizer.json"), """{"model": {"type": "Unigram", "vocab": []}}""");
        var e = Assert.Throws<DataException>(() => TokenizerFactory.Create("hf-json", null, "</s>", dir.Path));
        Assert.Contains("Unigram", e.Message);
        Assert.Contains("sentencepiece", e.Message);
    }
}
