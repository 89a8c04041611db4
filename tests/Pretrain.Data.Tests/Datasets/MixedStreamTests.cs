using Pretrain.Data.Datasets;
using Pretrain.Data.Sampling;

namespace Pretrain.Data.Tests.Datasets;

public sealed class MixedStreamTests
{
    /// <summary>Endless counter stream: component c yields c·1000 + k; its cursor's position is k + 1.</summary>
    private sealed class Counter(int component, DataCursor? from) : ISampleStream<int>
    {
        private long _next = from?.SampleInEpoch ?? 0;

        public bool TryNext(out int sample, out DataCursor cursorAfter)
        {
            sample = component * 1000 + (int)_next++;
            cursorAfter = new DataCursor(0, _next, 9, 1, []);
            return true;
        }

        public void Dispose()
        {
        }
    }

    private static MixedStream<int> Counters(double[] weights, int seed, DataCursor? resume = null) =>
        new(weights, [.. weights.Select((_, c) => (Func<DataCursor?, ISampleStream<int>>)(cur => new Counter(c, cur)))], seed, 1, resume);

    [Theory]
    [InlineData(new[] { 0.7, 0.3 }, 11)]
    [InlineData(new[] { 5.0, 3.0, 2.0 }, 0)]
    [InlineData(new[] { 0.9, 0.05, 0.05 }, 123)]
    public void Counts_follow_the_weights_within_a_few_samples_at_every_length(double[] weights, int seed)
    {
        var schedule = new MixSchedule(weights, seed);
        double total = weights.Sum();
        var counts = new long[weights.Length];
        for (int n = 1; n <= 20_000; n++)
        {
            counts[schedule.ComponentAt(n - 1)]++;
            for (int c = 0; c < weights.Length; c++)
            {
                // Low discrepancy: never more than 4 samples off n·w (independent draws would be ±√n·σ ≈ 60 here).
                Assert.InRange(counts[c] - n * weights[c] / total, -4.0, 4.0);
            }
        }
    }

    [Fact]
    public void The_order_is_a_function_of_the_seed()
    {
        double[] w = [0.7, 0.3];
        var a = Enumerable.Range(0, 200).Select(n => new MixSchedule(w, 4).ComponentAt(n)).ToList();
        var b = Enumerable.Range(0, 200).Select(n => new MixSchedule(w, 4).ComponentAt(n)).ToList();
        var c = Enumerable.Range(0, 200).Select(n => new MixSchedule(w, 5).ComponentAt(n)).ToList();
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
        using var mix = Counters(w, 4);
        var drawn = Enumerable.Range(0, 200).Select(i => { mix.TryNext(out int x, out _); return x / 1000; }).ToList();
        Assert.Equal(a, drawn);
        Assert.Equal(mix.Taken[0], a.Count(x => x == 0));
    }

    [Fact]
    public void Resume_from_any_mixed_cursor_continues_the_uninterrupted_order_and_survives_json()
    {
        double[] w = [0.5, 0.3, 0.2];
        using var whole = Counters(w, 7);
        var all = new List<(int Sample, DataCursor After)>();
        for (int i = 0; i < 300; i++)
        {
            whole.TryNext(out int x, out var after);
            all.Add((x, after));
        }

        foreach (int k in new[] { 1, 17, 150, 299 })
        {
            var cursor = DataCursor.FromJson(all[k - 1].After.ToJson());
            Assert.Equal(all[k - 1].After, cursor);
            Assert.Equal(k, cursor.Mix!.Position);
            using var resumed = Counters(w, 7, cursor);
            var rest = Enumerable.Range(k, 300 - k).Select(i => { resumed.TryNext(out int x, out _); return x; });
            Assert.Equal(all.Skip(k).Select(a => a.Sample), rest);
        }
    }

    [Fact]
    public void Packed_text_components_resume_mid_mix_and_mid_block_exactly()
    {
        using var dir = new TempDir();
        using var dirB = new TempDir();
        var a = StreamFixture.WriteIdFiles(dir);
        var b = StreamFixture.WriteIdFiles(dirB);
        var tokenizer = new IdTokenizer();
        MixedStream<int[]> Open(DataCursor? resume) => new(
            [0.7, 0.3],
            [
                c => new PackedTextStream(new PackedTextOptions { Files = a, BlockSize = 3, Seed = 2 }, tokenizer, c),
                c => new PackedTextStream(new PackedTextOptions { Files = b, BlockSize = 5, Seed = 2 }, tokenizer, c),
            ],
            seed: 2, worldSize: 1, resume);
        var all = new List<(int[] Block, DataCursor After)>();
        using (var whole = Open(null))
        {
            for (int i = 0; i < 120; i++)   // well past one epoch of either component
            {
                Assert.True(whole.TryNext(out var block, out var after));
                all.Add((block, after));
            }

            long fromA = Enumerable.Range(0, 120).Count(n => new MixSchedule([0.7, 0.3], 2).ComponentAt(n) == 0);
            Assert.Equal([fromA, 120 - fromA], whole.Taken);
            Assert.InRange(fromA, 80, 88);
        }

        foreach (int k in new[] { 5, 41, 77 })
        {
            using var resumed = Open(DataCursor.FromJson(all[k - 1].After.ToJson()));
            for (int i = k; i < all.Count; i++)
            {
                Assert.True(resumed.TryNext(out var block, out var after));
                Assert.Equal(all[i].Block, block);
                Assert.Equal(all[i].After, after);
            }
        }

        var err = Assert.Throws<DataException>(() => Open(new DataCursor(0, 3, 2, 1, [])));
        Assert.Contains("2-component mix", err.Message);
    }
}
