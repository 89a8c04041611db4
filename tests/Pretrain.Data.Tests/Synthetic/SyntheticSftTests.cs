using System.Globalization;
using Pretrain.Data.Datasets;
using Pretrain.Data.Synthetic;
using Pretrain.Data.Text;
using Xunit;

namespace Pretrain.Data.Tests.Synthetic;

public sealed class SyntheticSftTests
{
    [Fact]
    public void Pairs_follow_their_rule()
    {
        var kinds = new HashSet<string>();
        for (int i = 0; i < 400; i++)
        {
            var (prompt, response) = SyntheticSft.Pair(3, i);
            string[] words = prompt.Split(' ');
            kinds.Add(words[0]);
            Assert.EndsWith(" =", prompt);
            Assert.StartsWith(" ", response);
            string answer = response[1..];
            switch (words[0])
            {
                case "reverse":
                    Assert.Equal(new string(words[1].Reverse().ToArray()), answer);
                    break;
                case "sort":
                    Assert.Equal(new string(words[1].Order().ToArray()), answer);
                    break;
                case "add":
                    Assert.Equal(int.Parse(words[1], CultureInfo.InvariantCulture) + int.Parse(words[3], CultureInfo.InvariantCulture),
                        int.Parse(answer, CultureInfo.InvariantCulture));
                    break;
                default:
                    Assert.Equal("capital", words[0]);
                    Assert.Equal("of", words[1]);
                    Assert.True(char.IsUpper(answer[0]) && answer.All(char.IsLetter), answer);
                    break;
            }
            Assert.True(prompt.Length + response.Length + 1 <= 32, $"'{prompt}{response}' must fit a 32-position byte-level model");
        }
        Assert.Equal(4, kinds.Count);

        // A country always has the same capital (a learnable lookup).
        var capitals = Enumerable.Range(0, 400).Select(i => SyntheticSft.Pair(9, i)).Where(p => p.Prompt.StartsWith("capital", StringComparison.Ordinal))
            .GroupBy(p => p.Prompt).ToList();
        Assert.True(capitals.Count >= 6);
        Assert.All(capitals, g => Assert.Single(g.Select(p => p.Response).Distinct()));
    }

    [Fact]
    public void Files_are_deterministic_per_seed_sharded_and_reused()
    {
        using var dir = new TempDir();
        var a = SyntheticSft.Write(Path.Combine(dir.Path, "a"), 50, 3, 6, 7);
        var b = SyntheticSft.Write(Path.Combine(dir.Path, "b"), 50, 3, 6, 7);
        var c = SyntheticSft.Write(Path.Combine(dir.Path, "c"), 50, 3, 6, 8);
        Assert.Equal(3, a.Count);
        Assert.Equal(a.Select(File.ReadAllBytes), b.Select(File.ReadAllBytes));
        Assert.NotEqual(a.Select(File.ReadAllBytes), c.Select(File.ReadAllBytes));
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(dir.Path, "a"), "*.tmp"));

        var stamp = File.GetLastWriteTimeUtc(a[0]);
        Assert.Equal(a, SyntheticSft.Write(Path.Combine(dir.Path, "a"), 50, 3, 6, 7));
        Assert.Equal(stamp, File.GetLastWriteTimeUtc(a[0]));   // same parameters: reused
        Assert.Equal(2, SyntheticSft.Write(Path.Combine(dir.Path, "a"), 50, 2, 6, 7).Count);
        Assert.Equal(2, Directory.EnumerateFiles(Path.Combine(dir.Path, "a"), "part-*.parquet").Count());   // stale shard removed

        // Row groups of 6 rows: 17 rows in the first shard -> 3 row groups; the stream reads every pair.
        using var stream = new SftStream(new SftOptions { Files = c, Shuffle = false, MaxEpochs = 1 }, new ByteLevelTokenizer(["<eos>"]));
        int n = 0;
        while (stream.TryNext(out _, out _)) n++;
        Assert.Equal(50, n);
    }
}
