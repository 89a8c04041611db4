using System.Diagnostics;
using Pretrain.Data.Datasets;
using Pretrain.Data.Sources;
using Pretrain.Data.Tests.Sources;
using Pretrain.Data.Writing;

namespace Pretrain.Data.Tests.Datasets;

/// <summary>Nothing hangs: a stuck producer or a stalled server ends in a DataException within its timeout.</summary>
public sealed class PrefetchTimeoutTests
{
    [Fact]
    public void A_producer_that_makes_nothing_fails_the_consumer_within_the_timeout_naming_what_it_was_reading()
    {
        using var queue = new Prefetcher<int>(4, TimeSpan.FromMilliseconds(200), "data.train");
        queue.Start(async ct =>
        {
            await queue.Writer.WriteAsync(1, ct);
            ProducerActivity.Report("reading shard-7.parquet, row group 3, column 'text'");
            await Task.Delay(Timeout.Infinite, ct);   // stuck
        });
        Assert.True(queue.TryTake(out int first));
        Assert.Equal(1, first);
        var clock = Stopwatch.StartNew();
        var e = Assert.Throws<DataException>(() => queue.TryTake(out _));
        Assert.InRange(clock.Elapsed.TotalSeconds, 0.15, 1.0);
        Assert.Contains("data.train", e.Message);
        Assert.Contains("shard-7.parquet, row group 3", e.Message);
        Assert.Contains("data.timeout_s", e.Message);
    }

    [Fact]
    public void A_slow_but_live_producer_is_not_cut_off()
    {
        using var queue = new Prefetcher<int>(1, TimeSpan.FromMilliseconds(500), "data.train");
        queue.Start(async ct =>
        {
            for (int i = 0; i < 5; i++)
            {
                await Task.Delay(50, ct);
                await queue.Writer.WriteAsync(i, ct);
            }
        });
        var got = new List<int>();
        while (queue.TryTake(out int x))
            got.Add(x);
        Assert.Equal([0, 1, 2, 3, 4], got);
    }

    [Fact]
    public void Dispose_releases_the_sources_only_after_the_producer_has_ended()
    {
        bool ended = false, releasedAfterEnd = false;
        var queue = new Prefetcher<int>(1, TimeSpan.FromSeconds(5), "data.train", release: () => releasedAfterEnd = Volatile.Read(ref ended));
        queue.Start(async ct =>
        {
            await queue.Writer.WriteAsync(1, ct);
            try
            {
                await queue.Writer.WriteAsync(2, ct);   // the queue is full: waits until Dispose cancels
            }
            finally
            {
                await Task.Delay(200, CancellationToken.None);   // a read that finishes after the cancellation
                Volatile.Write(ref ended, true);
            }
        });
        Assert.True(queue.TryTake(out _));
        var clock = Stopwatch.StartNew();
        queue.Dispose();
        Assert.True(clock.Elapsed.TotalSeconds >= 0.15, "Dispose returned before the producer ended");
        Assert.True(releasedAfterEnd);
    }

    [Fact]
    public void A_producer_deaf_to_cancellation_fails_Dispose_after_the_timeout_and_is_released_when_it_ends()
    {
        using var gate = new ManualResetEventSlim();
        int released = 0;
        var queue = new Prefetcher<int>(1, TimeSpan.FromMilliseconds(300), "data.eval", release: () => Interlocked.Increment(ref released));
        queue.Start(ct =>
        {
            ProducerActivity.Report("reading shard-2.parquet, row group 5, column 'text'");
            gate.Wait(CancellationToken.None);   // a hung synchronous read
            return Task.CompletedTask;
        });
        var clock = Stopwatch.StartNew();
        var e = Assert.Throws<DataException>(queue.Dispose);
        Assert.InRange(clock.Elapsed.TotalSeconds, 0.25, 3);
        Assert.Contains("data.eval", e.Message);
        Assert.Contains("shard-2.parquet, row group 5", e.Message);
        Assert.Equal(0, Volatile.Read(ref released));   // nothing closed underneath the read

        gate.Set();
        SpinWait.SpinUntil(() => Volatile.Read(ref released) == 1, TimeSpan.FromSeconds(5));
        Assert.Equal(1, Volatile.Read(ref released));   // closed by the producer itself, once, when it ended
        queue.Dispose();                                // a second Dispose is a no-op
        Assert.Equal(1, Volatile.Read(ref released));
    }

    [Fact]
    public async Task A_stalled_http_server_gives_an_error_naming_the_url_within_the_request_timeouts()
    {
        using var dir = new TempDir();
        TextParquetWriter.Write(dir.File("t.parquet"), ["a", "b"], 1);
        using var server = new LoopbackRangeServer(File.ReadAllBytes(dir.File("t.parquet"))) { StallFrom = 1, Stall = TimeSpan.FromSeconds(30) };
        var options = new HttpSourceOptions { MaxRetries = 1, BaseDelay = TimeSpan.FromMilliseconds(10), RequestTimeout = TimeSpan.FromMilliseconds(300) };
        var clock = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<DataException>(() => HttpRangeSource.OpenAsync(server.Url, options));
        Assert.InRange(clock.Elapsed.TotalSeconds, 0.5, 5);
        Assert.Contains(server.Url, e.Message);
        Assert.Contains("timed out after 0.3 s", e.Message);
    }
}
