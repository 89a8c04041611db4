using Pretrain.Data.Text;

namespace Pretrain.Cli.Tests;

[Collection("torch")]   // CLI tests share one process; run them one at a time like the torch tests
public sealed class TokenizerCommandTests
{
    [Fact]
    public void TrainWritesFilesTheBpeLoaderReads()
    {
        using var dir = new TempDir();
        var rng = new Random(5);
        string[] syllables = ["ka", "ro", "mi", "ten", "sha", "lo", "ve", "qua", "dor", "st", "ion", "ea"];
        var lines = Enumerable.Range(0, 3000).Select(_ => string.Join(' ',
            Enumerable.Range(0, rng.Next(3, 10)).Select(_ => string.Concat(Enumerable.Range(0, rng.Next(1, 4)).Select(_ => syllables[rng.Next(syllables.Length)])))));
        Directory.CreateDirectory(Path.Combine(dir.Path, "corpus"));
        File.WriteAllLines(Path.Combine(dir.Path, "corpus", "a.txt"), lines);
        string outDir = Path.Combine(dir.Path, "tok");

        var (code, stdout, stderr) = CliRunner.Run("tokenizer", "train", Path.Combine(dir.Path, "corpus"), "--vocab-size", "400",
            "--out", outDir, "--special", "<|endoftext|>", "--special", "<mask>");
        Assert.True(code == 0, stderr);
        Assert.Contains("vocabulary 400", stdout);
        var tok = TokenizerFactory.Load(outDir);
        Assert.Equal("bpe", tok.Kind);
        Assert.Equal(400, tok.VocabSize);
        Assert.Equal(399, ((ISpecialTokens)tok).MaskId);
        Assert.Equal("karo mision<mask>", tok.Decode(tok.Encode("karo mision<mask>")));
    }

    [Fact]
    public void MissingVocabSizeIsAUsageError()
    {
        using var dir = new TempDir();
        File.WriteAllText(Path.Combine(dir.Path, "a.txt"), "text");
        var (code, _, stderr) = CliRunner.Run("tokenizer", "train", Path.Combine(dir.Path, "a.txt"), "--out", Path.Combine(dir.Path, "o"));
        Assert.Equal(2, code);
        Assert.Contains("--vocab-size", stderr);
        (code, _, stderr) = CliRunner.Run("tokenizer", "train", Path.Combine(dir.Path, "nope.txt"), "--out", Path.Combine(dir.Path, "o"), "--vocab-size", "300");
        Assert.Equal(1, code);
        Assert.Contains("nope.txt", stderr);
    }
}
