using System.Text;
using Pretrain.Data.Tests.Reference;
using Pretrain.Data.Text;
using Xunit.Abstractions;

namespace Pretrain.Data.Tests.Text;

/// <summary>
/// Our hf-json and wordpiece tokenizers against Hugging Face's Rust tokenizers (npm <c>tokenizers</c>) on every text
/// of <see cref="ReferenceCorpus"/> (~2,500 texts): the same ids, and our decode of them equals Hugging Face's.
/// One node process serves all the facts (<see cref="HfReference"/>); about 20 s in all on two cores.
/// </summary>
public sealed class HuggingFaceReferenceTests(ITestOutputHelper output)
{
    [ReferenceTheory(ReferenceTool.NpmTokenizers)]
    [InlineData("llama3")]
    [InlineData("qwen3")]
    [InlineData("llama2")]
    [InlineData("deepseek_v3")]
    [InlineData("llama2-metaspace")]
    [InlineData("qwen3-variant")]
    public void RealTokenizerJsonGivesHuggingFacesIds(string name)
    {
        var reference = HfReference.Get();
        var tok = TokenizerFactory.Create("hf-json", null, EosOf(name), reference.Paths[name]);
        AssertSameIds(name, reference, tok.Encode);
        AssertSameDecode(name, reference, tok);
    }

    [ReferenceFact(ReferenceTool.NpmTokenizers)]
    public void BertUncasedTokenizerJsonGivesHuggingFacesIds()
    {
        var reference = HfReference.Get();
        Assert.True(reference.Paths.ContainsKey("bert-uncased"), $"bert-base-uncased vocab.txt unavailable: {MiniLmVocab.WhyMissing}");
        var tok = TokenizerFactory.Create("hf-json", null, "[SEP]", reference.Paths["bert-uncased"]);
        AssertSameIds("bert-uncased", reference, tok.Encode);
    }

    [ReferenceFact(ReferenceTool.NpmTokenizers)]
    public void WordPieceOverMiniLmVocabGivesHuggingFacesBertIds()
    {
        var reference = HfReference.Get();
        Assert.True(MiniLmVocab.Path is not null, $"bert-base-uncased vocab.txt unavailable: {MiniLmVocab.WhyMissing}");
        var tok = TokenizerFactory.Create("wordpiece", null, "[SEP]", MiniLmVocab.Path);
        AssertSameIds("bert-uncased", reference, tok.Encode);
    }

    private static string EosOf(string name) => name switch
    {
        "llama3" => "<|end_of_text|>",
        "qwen3" or "qwen3-variant" => "<|endoftext|>",
        "llama2" or "llama2-metaspace" => "</s>",
        _ => "<｜end▁of▁sentence｜>",
    };

    private void AssertSameIds(string name, HfReference.Result reference, Func<string, int[]> encode)
    {
        var expected = reference.Ids[name];
        var bad = new List<int>();
        for (int i = 0; i < reference.Texts.Count; i++)
        {
            int[] ours;
            try
            {
                ours = encode(reference.Texts[i]);
            }
            catch (Exception e) when (e is DataException or InvalidOperationException or ArgumentException)
            {
                ours = [];
            }

            if (!ours.AsSpan().SequenceEqual(expected[i]))
            {
                bad.Add(i);
            }
        }

        output.WriteLine($"{name}: {bad.Count} of {reference.Texts.Count} texts give other ids than Hugging Face");
        if (bad.Count > 0)
        {
            var sb = new StringBuilder($"{name}: {bad.Count} of {reference.Texts.Count} texts give other ids than Hugging Face; first ones:\n");
            foreach (int i in bad.Take(3))
            {
                sb.Append($"  text {i}: {Quote(reference.Texts[i])}\n    HF:   [{string.Join(", ", expected[i])}]\n    ours: [{string.Join(", ", encode(reference.Texts[i]))}]\n");
            }

            Assert.Fail(sb.ToString());
        }
    }

    private static void AssertSameDecode(string name, HfReference.Result reference, ITextTokenizer tok)
    {
        for (int i = 0; i < reference.Texts.Count; i++)
        {
            string ours = tok.Decode(reference.Ids[name][i]);
            Assert.True(ours == reference.Decoded[name][i],
                $"{name}: decode of text {i} differs:\n  HF:   {Quote(reference.Decoded[name][i])}\n  ours: {Quote(ours)}");
        }
    }

    private static string Quote(string s) => System.Text.Json.JsonSerializer.Serialize(s.Length > 300 ? s[..300] + "…" : s);
}
