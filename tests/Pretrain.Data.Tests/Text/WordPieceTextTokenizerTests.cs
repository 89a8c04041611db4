using Pretrain.Data.Tests.Reference;
using Pretrain.Data.Text;

namespace Pretrain.Data.Tests.Text;

public sealed class WordPieceTextTokenizerTests
{
    [MiniLmFact]
    public void BertBaseUncasedHelloWorldMatchesPublishedIds()
    {
        Assert.True(MiniLmVocab.Path is not null, $"bert-base-uncased vocab.txt unavailable: {MiniLmVocab.WhyMissing}");
        var tok = TokenizerFactory.Create("wordpiece", null, "[SEP]", MiniLmVocab.Path);
        var sp = Assert.IsAssignableFrom<ISpecialTokens>(tok);
        Assert.Equal("wordpiece", tok.Kind);
        Assert.Equal(30522, tok.VocabSize);
        Assert.Equal([7592, 2088], tok.Encode("hello world"));
        Assert.Equal([101, 7592, 2088, 102], [sp.ClsId!.Value, .. tok.Encode("Hello World"), sp.SepId!.Value]);
        Assert.Equal((0, 100, 101, 102, 103), (sp.PadId, sp.UnkId, sp.ClsId, sp.SepId, sp.MaskId));
        Assert.Equal(102, tok.EosId);
        Assert.Equal("hello world", tok.Decode([7592, 2088]));

        using var dir = new TempDir();
        tok.Save(dir.Path);
        var loaded = TokenizerFactory.Load(dir.Path);
        Assert.IsType<WordPieceTextTokenizer>(loaded);
        string text = "The whale, unaccountably, surfaced near the Pequod's bow.";
        Assert.Equal(tok.Encode(text), loaded.Encode(text));
        Assert.Equal(tok.VocabSize, loaded.VocabSize);
    }

    [Fact]
    public void TinyVocabSplitsSubwordsAndHonoursLowerCasing()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("vocab.txt"), "[PAD]\r\n[UNK]\r\n[CLS]\r\n[SEP]\r\n[MASK]\r\nhello\r\nworld\r\n##s\r\n,\r\n");
        var tok = (WordPieceTextTokenizer)TokenizerFactory.Create("wordpiece", null, "[SEP]", dir.Path);
        Assert.Equal(9, tok.VocabSize);
        Assert.Equal([5, 8, 6, 7], tok.Encode("Hello, worlds"));
        Assert.Equal((0, 1, 2, 3, 4), (tok.PadId, tok.UnkId, tok.ClsId, tok.SepId, tok.MaskId));

        var cased = TokenizerFactory.Create("wordpiece", null, "[SEP]", dir.File("vocab.txt"), lowerCase: false);
        Assert.Equal([1, 6], cased.Encode("Hello world"));

        using var saved = new TempDir();
        cased.Save(saved.Path);
        Assert.Equal([1, 6], TokenizerFactory.Load(saved.Path).Encode("Hello world"));
    }

    [Fact]
    public void EosOutsideTheVocabularyIsAClearError()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("vocab.txt"), "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\n");
        var e = Assert.Throws<DataException>(() => TokenizerFactory.Create("wordpiece", null, "<|endoftext|>", dir.Path));
        Assert.Contains("[SEP]", e.Message);
        var missing = Assert.Throws<DataException>(() => TokenizerFactory.Create("wordpiece", null, "[SEP]", null));
        Assert.Contains("tokenizer.path", missing.Message);
    }
}
