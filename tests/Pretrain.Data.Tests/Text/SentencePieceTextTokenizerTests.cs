using Pretrain.Data.Tests.Reference;
using Pretrain.Data.Text;

namespace Pretrain.Data.Tests.Text;

public sealed class SentencePieceTextTokenizerTests
{
    private static readonly string[] Words =
        "the quick brown fox jumps over lazy dog whale ship captain sea ocean harpoon ahab ishmael queequeg white boat".Split(' ');

    private static readonly string[] Probes =
    [
        "The whale and the ship",
        "Captain Ahab jumps over the white whale.",
        "queequeg harpoon boat sea",
    ];

    [ReferenceFact(ReferenceTool.SentencePiece)]
    public void MatchesSpmEncodeForBpeAndUnigramModels()
    {
        using var dir = new TempDir();
        string corpus = dir.File("corpus.txt");
        var rng = new Random(1);
        File.WriteAllLines(corpus, Enumerable.Range(0, 1500).Select(_ =>
        {
            string line = string.Join(' ', Enumerable.Range(0, rng.Next(3, 12)).Select(_ => Words[rng.Next(Words.Length)]));
            return char.ToUpperInvariant(line[0]) + line[1..] + ".";
        }));

        foreach (var (type, size) in new[] { ("bpe", 120), ("unigram", 60) })
        {
            string prefix = dir.File(type);
            var (code, output) = ReferenceTools.Run("spm_train",
                [$"--input={corpus}", $"--model_prefix={prefix}", $"--vocab_size={size}", $"--model_type={type}", "--minloglevel=2"],
                TimeSpan.FromSeconds(60));
            Assert.True(code == 0, $"spm_train failed: {output}");
            var (encCode, encOut) = ReferenceTools.Run("spm_encode", [$"--model={prefix}.model", "--output_format=id"], TimeSpan.FromSeconds(30),
                stdin: string.Join('\n', Probes) + "\n");
            Assert.True(encCode == 0, $"spm_encode failed: {encOut}");
            var expected = encOut.Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray()).ToList();

            var tok = TokenizerFactory.Create("sentencepiece", null, "</s>", prefix + ".model");
            Assert.Equal("sentencepiece", tok.Kind);
            Assert.Equal(size, tok.VocabSize);
            Assert.Equal(2, tok.EosId);
            Assert.Equal(0, ((ISpecialTokens)tok).UnkId);
            for (int i = 0; i < Probes.Length; i++)
            {
                Assert.Equal(expected[i], tok.Encode(Probes[i]));
                Assert.Equal(Probes[i], tok.Decode(tok.Encode(Probes[i])));
            }

            // A special token the model lacks is appended after it and matched whole; save/load keeps its id.
            var withMask = TokenizerFactory.Create("sentencepiece", null, "</s>", prefix + ".model", ["<mask>"]);
            Assert.Equal(size + 1, withMask.VocabSize);
            Assert.Equal(size, ((ISpecialTokens)withMask).MaskId);
            Assert.Contains(size, withMask.Encode("the whale <mask> ship"));
            string saved = dir.File(type + "-saved");
            withMask.Save(saved);
            var loaded = TokenizerFactory.Load(saved);
            Assert.Equal(withMask.Encode(Probes[1] + " <mask>"), loaded.Encode(Probes[1] + " <mask>"));
            Assert.Equal(size + 1, loaded.VocabSize);
        }
    }

    [Fact]
    public void NotAModelIsAClearError()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("m.model"), "this is not a protobuf model");
        var e = Assert.Throws<DataException>(() => TokenizerFactory.Create("sentencepiece", null, "</s>", dir.File("m.model")));
        Assert.Contains("m.model", e.Message);
    }
}
