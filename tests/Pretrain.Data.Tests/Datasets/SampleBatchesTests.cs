using Pretrain.Data.Datasets;
using Pretrain.Data.Sampling;

namespace Pretrain.Data.Tests.Datasets;

/// <summary>SampleBatches.Of: consecutive batches of a finite stream, a short last one, the batch limit, lazy reading.</summary>
public sealed class SampleBatchesTests
{
    /// <summary>A finite stream of 0..n-1 that counts how often it was asked.</summary>
    private sealed class Counting(int n) : ISampleStream<int>
    {
        private int _next;
        public int Calls { get; private set; }

        public bool TryNext(out int sample, out DataCursor cursorAfter)
        {
            Calls++;
            cursorAfter = DataCursor.Start(0, 1) with { SampleInEpoch = Math.Min(_next + 1, n) };
            sample = _next;
            if (_next >= n) return false;
            _next++;
            return true;
        }

        public void Dispose() { }
    }

    [Fact]
    public void Batches_cover_the_stream_in_order_and_only_the_last_is_short()
    {
        var batches = SampleBatches.Of(new Counting(10), 4).ToList();
        Assert.Equal([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]], batches);
        Assert.Equal([[0, 1], [2, 3]], SampleBatches.Of(new Counting(4), 2).ToList());
        Assert.Empty(SampleBatches.Of(new Counting(0), 3));
    }

    [Fact]
    public void Max_batches_stops_reading_and_enumeration_is_lazy()
    {
        var stream = new Counting(100);
        Assert.Equal(2, SampleBatches.Of(stream, 5, maxBatches: 2).Count());
        Assert.Equal(10, stream.Calls);   // no sample read beyond the second batch

        var lazy = new Counting(100);
        using (var e = SampleBatches.Of(lazy, 3).GetEnumerator())
        {
            Assert.True(e.MoveNext());
            Assert.Equal(3, lazy.Calls);
        }

        Assert.Throws<ArgumentOutOfRangeException>(() => SampleBatches.Of(new Counting(3), 0).ToList());
    }
}
