using Pretrain.Data.Text;

namespace Pretrain.Data.Tests.Text;

public sealed class TiktokenTextTokenizerTests
{
    [Fact]
    public void Gpt2GoldenIds()
    {
        var tok = TokenizerFactory.Create("tiktoken", "gpt2", "<|endoftext|>");
        Assert.Equal("tiktoken", tok.Kind);
        Assert.Equal([31373, 995], tok.Encode("hello world"));
        Assert.Equal(50256, tok.EosId);
        Assert.Equal(50257, tok.VocabSize);
        Assert.Equal("hello world<|endoftext|>", tok.Decode([31373, 995, 50256]));
    }

    [Fact]
    public void DefaultNameIsGpt2AndR50kMatchesIt()
    {
        var byDefault = TokenizerFactory.Create("tiktoken", null, "<|endoftext|>");
        var r50k = TokenizerFactory.Create("tiktoken", "r50k_base", "<|endoftext|>");
        Assert.Equal([31373, 995], byDefault.Encode("hello world"));
        Assert.Equal(byDefault.Encode("The quick brown fox."), r50k.Encode("The quick brown fox."));
    }

    [Fact]
    public void SaveWritesRanksAndLoadRecreates()
    {
        using var dir = new TempDir();
        var tok = TokenizerFactory.Create("tiktoken", "gpt2", "<|endoftext|>");
        tok.Save(dir.Path);
        Assert.True(File.Exists(dir.File("tokenizer_config.json")));
        Assert.True(new FileInfo(dir.File("gpt2.tiktoken")).Length > 100_000);

        var loaded = TokenizerFactory.Load(dir.Path);
        Assert.Equal([31373, 995], loaded.Encode("hello world"));
        Assert.Equal(50256, loaded.EosId);
        Assert.Equal(50257, loaded.VocabSize);
    }

    [Fact]
    public void UnknownNameAndBadEosAreDataExceptions()
    {
        var e = Assert.Throws<DataException>(() => TokenizerFactory.Create("tiktoken", "gpt5", "<|endoftext|>"));
        Assert.Contains("gpt2", e.Message);
        Assert.Contains("o200k_base", e.Message);
        e = Assert.Throws<DataException>(() => TokenizerFactory.Create("tiktoken", "gpt2", "</s>"));
        Assert.Contains("<|endoftext|>", e.Message);
    }

    [Fact]
    public void Cl100kAndO200kComeFromTheirDataPackages()
    {
        var cl = TokenizerFactory.Create("tiktoken", "cl100k_base", "<|endoftext|>");
        Assert.Equal([15339, 1917], cl.Encode("hello world"));
        Assert.Equal(100257, cl.EosId);
        var o = TokenizerFactory.Create("tiktoken", "o200k_base", "<|endoftext|>");
        Assert.Equal([24912, 2375], o.Encode("hello world"));
        Assert.Equal(199999, o.EosId);
        Assert.Equal("héllo ✓", o.Decode(o.Encode("héllo ✓")));
    }
}
