using Pretrain.Data.Text;

namespace Pretrain.Data.Tests.Text;

public sealed class ByteLevelTokenizerTests
{
    [Fact]
    public void RoundTripsUtf8AndNumbersSpecialsAfterBytes()
    {
        var tok = new ByteLevelTokenizer(["<|endoftext|>", "<|pad|>"]);
        Assert.Equal("byte", tok.Kind);
        Assert.Equal(258, tok.VocabSize);
        Assert.Equal(256, tok.EosId);

        string text = "héllo, wörld ✓";
        int[] ids = tok.Encode(text);
        Assert.Equal(System.Text.Encoding.UTF8.GetByteCount(text), ids.Length);
        Assert.All(ids, id => Assert.InRange(id, 0, 255));
        Assert.Equal(text, tok.Decode(ids));
        Assert.Equal("ab<|endoftext|>c<|pad|>", tok.Decode([97, 98, 256, 99, 257]));
    }

    [Fact]
    public void InvalidUtf8DecodesToReplacementChar()
    {
        var tok = new ByteLevelTokenizer(["<eos>"]);
        Assert.Equal("a\uFFFDb", tok.Decode([97, 0xC3, 98]));
        Assert.Throws<ArgumentOutOfRangeException>(() => tok.Decode([300]));
    }

    [Fact]
    public void SaveLoadRoundTrip()
    {
        using var dir = new TempDir();
        var tok = TokenizerFactory.Create("byte", null, "<eos>");
        tok.Save(dir.Path);
        var loaded = TokenizerFactory.Load(dir.Path);
        Assert.IsType<ByteLevelTokenizer>(loaded);
        Assert.Equal(tok.VocabSize, loaded.VocabSize);
        Assert.Equal(tok.EosId, loaded.EosId);
        Assert.Equal(tok.Encode("xyz"), loaded.Encode("xyz"));
        Assert.Equal("<eos>", loaded.Decode([256]));
    }

    [Fact]
    public void UnknownKindListsValidOnes()
    {
        var e = Assert.Throws<DataException>(() => TokenizerFactory.Create("nonsense", null, "<eos>"));
        Assert.Contains("byte", e.Message);
        Assert.Contains("tiktoken", e.Message);
    }
}
