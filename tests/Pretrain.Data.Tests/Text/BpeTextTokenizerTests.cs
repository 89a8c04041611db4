using Pretrain.Data.Text;

namespace Pretrain.Data.Tests.Text;

public sealed class BpeTextTokenizerTests
{
    [Fact]
    public void MergesByRankAndRoundTripsAnyText()
    {
        using var dir = new TempDir();
        TinyBpe.Write(dir.Path, withEndOfText: true);
        var tok = TokenizerFactory.Create("bpe", null, "<|endoftext|>", dir.Path);
        Assert.Equal("bpe", tok.Kind);
        Assert.Equal(256 + TinyBpe.Merges.Length + 1, tok.VocabSize);
        Assert.Equal(265, tok.EosId);
        // "hello" = merge 4 (id 259), " world" = merge 9 (id 264).
        Assert.Equal([259, 264], tok.Encode("hello world"));
        Assert.Equal([259, 265, 264], tok.Encode("hello<|endoftext|> world"));
        foreach (string text in new[] { "hello  world\n\n héllo ✓ 🐋 it's 42", "", " leading", "tabs\tand\r\nnewlines" })
        {
            Assert.Equal(text, tok.Decode(tok.Encode(text)));
        }
    }

    [Fact]
    public void MissingSpecialsAreAppendedAndSurviveSaveLoad()
    {
        using var dir = new TempDir();
        TinyBpe.Write(dir.Path);
        var tok = TokenizerFactory.Create("bpe", null, "</s>", dir.File("vocab.json"), ["<pad>", "<mask>"]);
        var sp = (ISpecialTokens)tok;
        Assert.Equal(265, tok.EosId);
        Assert.Equal((266, 267, 265), (sp.PadId!.Value, sp.MaskId!.Value, sp.SepId!.Value));
        Assert.Equal(268, tok.VocabSize);
        Assert.Equal([259, 267, 264], tok.Encode("hello<mask> world"));

        using var saved = new TempDir();
        tok.Save(saved.Path);
        var loaded = TokenizerFactory.Load(saved.Path);
        Assert.Equal(tok.VocabSize, loaded.VocabSize);
        Assert.Equal(tok.Encode("hello<mask> world</s>"), loaded.Encode("hello<mask> world</s>"));
        Assert.Equal("<pad>", loaded.Decode([266]));
    }

    [Fact]
    public void MismatchedOrMalformedFilesAreClearErrors()
    {
        using var dir = new TempDir();
        TinyBpe.Write(dir.Path);
        File.AppendAllText(dir.File("merges.txt"), "x y z\n");
        var e = Assert.Throws<DataException>(() => TokenizerFactory.Create("bpe", null, "</s>", dir.Path));
        Assert.Contains("merges.txt:11", e.Message);

        File.WriteAllText(dir.File("merges.txt"), "#version: 0.2\nq z\n");
        e = Assert.Throws<DataException>(() => TokenizerFactory.Create("bpe", null, "</s>", dir.Path));
        Assert.Contains("'qz'", e.Message);

        File.Delete(dir.File("merges.txt"));
        e = Assert.Throws<DataException>(() => TokenizerFactory.Create("bpe", null, "</s>", dir.Path));
        Assert.Contains("merges.txt", e.Message);
    }
}
