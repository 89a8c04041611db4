using System.Diagnostics;
using Pretrain.Data.Text;

namespace Pretrain.Data.Tests.Text;

public sealed class BpeTrainerTests
{
    private static readonly string[] Syllables =
        ["ka", "ro", "mi", "ten", "sha", "lo", "ve", "qua", "dor", "ün", "é", "bri", "st", "ght", "ion", "ea", "pl", "ment"];

    /// <summary>Text with common words, many made-up words (shared syllables), digits, punctuation and non-ASCII.</summary>
    private static List<string> Corpus(int documents, int seed)
    {
        string[] words =
        [
            "the", "whale", "ship", "captain", "sea", "ocean", "harpoon", "Ahab", "Ishmael", "Queequeg", "white", "boat", "sailed",
            "into", "storm", "and", "of", "a", "to", "in", "was", "his", "that", "it", "with", "naïve", "café", "über", "Pequod",
            "Nantucket", "1851", "42", "whaling", "voyage", "crew", "mast", "deck", "wind", "wave", "black", "deep", "long",
        ];
        var rng = new Random(seed);
        var docs = new List<string>();
        for (int d = 0; d < documents; d++)
        {
            var sb = new System.Text.StringBuilder();
            int sentences = rng.Next(3, 9);
            for (int s = 0; s < sentences; s++)
            {
                int n = rng.Next(4, 16);
                for (int w = 0; w < n; w++)
                {
                    string word = rng.Next(2) == 0
                        ? words[rng.Next(words.Length)]
                        : string.Concat(Enumerable.Range(0, rng.Next(1, 4)).Select(_ => Syllables[rng.Next(Syllables.Length)]));
                    sb.Append(w == 0 ? "" : " ").Append(word);
                }

                sb.Append(rng.Next(4) == 0 ? "!\n" : ". ");
            }

            docs.Add(sb.ToString());
        }

        return docs;
    }

    [Fact]
    public void TrainsTheAskedVocabularyThatRoundTripsAndReloads()
    {
        var corpus = Corpus(2500, 7);
        var sw = Stopwatch.StartNew();
        var tok = BpeTrainer.Train(corpus, vocabSize: 600, specialTokens: ["<|endoftext|>", "<pad>"]);
        sw.Stop();
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(20), $"training took {sw.Elapsed}");
        Assert.Equal(600, tok.VocabSize);
        Assert.Equal(598, tok.EosId);
        Assert.Equal(599, tok.PadId);

        string text = "The whale, naïve café über Pequod! 1851 — unseen: ✓🐋\n\tend";
        int[] ids = tok.Encode(text + "<|endoftext|>");
        Assert.Equal(598, ids[^1]);
        Assert.Equal(text, tok.Decode(ids[..^1]));
        string sample = corpus[3];
        Assert.True(tok.Encode(sample).Length * 3 < System.Text.Encoding.UTF8.GetByteCount(sample), "merges should compress training-like text");

        using var dir = new TempDir();
        tok.Save(dir.Path);
        Assert.True(File.Exists(dir.File("vocab.json")) && File.Exists(dir.File("merges.txt")));
        var viaBpeLoader = TokenizerFactory.Create("bpe", null, "<|endoftext|>", dir.Path, ["<pad>"]);
        Assert.Equal(600, viaBpeLoader.VocabSize);
        Assert.Equal(tok.Encode(sample), viaBpeLoader.Encode(sample));
        Assert.Equal(tok.Encode(sample), TokenizerFactory.Load(dir.Path).Encode(sample));
    }

    [Fact]
    public void IsDeterministic()
    {
        var corpus = Corpus(300, 3);
        using var a = new TempDir();
        using var b = new TempDir();
        BpeTrainer.Train(corpus, 400).Save(a.Path);
        BpeTrainer.Train(corpus, 400).Save(b.Path);
        Assert.Equal(File.ReadAllText(a.File("merges.txt")), File.ReadAllText(b.File("merges.txt")));
        Assert.Equal(File.ReadAllText(a.File("vocab.json")), File.ReadAllText(b.File("vocab.json")));
    }

    [Fact]
    public void StopsAtMinFrequencyAndRejectsTinySizes()
    {
        var tok = BpeTrainer.Train(["ab ab ab cd"], vocabSize: 1000, minFrequency: 2);
        Assert.True(tok.VocabSize < 1000);
        Assert.Equal("ab ab ab cd", tok.Decode(tok.Encode("ab ab ab cd")));
        Assert.Throws<DataException>(() => BpeTrainer.Train(["x"], vocabSize: 200));
    }
}
