using System.Collections.Concurrent;
using System.Diagnostics;
using ParquetSharp;
using Pretrain.Data.Datasets;
using Pretrain.Data.Sampling;
using Pretrain.Data.Sources;
using Pretrain.Data.Synthetic;
using Pretrain.Data.Tests.Writers;
using Pretrain.Data.Text;

namespace Pretrain.Data.Tests.Datasets;

/// <summary>
/// Lifetimes of streams, producers and sources (docs/data-pipeline.md): every read a producer starts ends before the
/// stream's Dispose returns, whatever the consumer does (stop early, stop after a producer failure); a producer that
/// does not stop is waited for data.timeout_s, then Dispose fails naming what it was reading — never a hang, never a
/// source disposed underneath a read. Reads are delayed or blocked through <see cref="ParquetReadHook"/>.
/// </summary>
public sealed class StreamLifetimeTests
{
    private static readonly ByteLevelTokenizer Bytes = new(["<eos>"]);

    /// <summary>One stream's reads: a read that starts or resumes after the stream's Dispose returned is a violation.</summary>
    private sealed class ReadProbe(int seed)
    {
        private readonly Random _rng = new(seed);
        private volatile bool _disposed;
        public int Violations;
        public int Reads;

        public Func<string, int, CancellationToken, Task> Hook => async (_, _, _) =>
        {
            Check();
            Interlocked.Increment(ref Reads);
            int delay;
            lock (_rng)
            {
                delay = _rng.Next(3);
            }

            // Half the reads are suspended for a millisecond or two, ignoring cancellation as a slow disk does: the
            // read is still running when the consumer stops and disposes.
            if (delay > 0)
            {
                await Task.Delay(delay, CancellationToken.None);
            }

            Check();
        };

        public void Disposed() => _disposed = true;

        private void Check()
        {
            if (_disposed)
            {
                Interlocked.Increment(ref Violations);
            }
        }
    }

    /// <summary>A kind of stream: opens one from a seed, with data.timeout_s (null: the default).</summary>
    private sealed record Kind(string Name, Func<int, TimeSpan?, (IDisposable Stream, Func<bool> Next)> Open);

    private static List<Kind> Kinds(TempDir dir)
    {
        var ids = StreamFixture.WriteIdFiles(dir);
        var tokens = new[] { ForeignFiles.WriteParquetSharp(dir.File("tok.parquet"), Compression.Snappy, ParquetDataPageVersion.V1, 60, 12) };
        var labelled = SyntheticLabelledText.Write(dir.File("labelled"), 48, 2, 8, 3);
        var sft = SyntheticSft.Write(dir.File("sft"), 48, 2, 8, 3);
        var images = SyntheticImages.Write(dir.File("images"), 32, 2, 4, 3);
        var failing = new IdTokenizer { Fail = t => t == "20" ? new InvalidDataException("row 20 is poisoned") : null };

        static (IDisposable, Func<bool>) Of<T>(ISampleStream<T> s) => (s, () => s.TryNext(out _, out _));
        PackedTextStream Packed(IReadOnlyList<string> files, int seed, TimeSpan? timeout, ITextTokenizer tokenizer, string? tokenColumn = null,
            DataCursor? from = null) =>
            new(new PackedTextOptions { Files = files, TokenColumn = tokenColumn, BlockSize = 3, Seed = seed, Prefetch = 2, Timeout = timeout },
                tokenizer, from);

        return
        [
            new("packed text", (seed, t) => Of(Packed(ids, seed, t, new IdTokenizer()))),
            new("packed text, producer throws", (seed, t) => Of(Packed(ids, seed, t, failing))),
            new("packed token ids", (seed, t) => Of(Packed(tokens, seed, t, new IdTokenizer(), "ids32"))),
            new("labelled text", (seed, t) => Of(new LabelledTextStream(new LabelledTextOptions
            {
                Files = labelled, Seed = seed, Prefetch = 2, MaxTokens = 16, ShuffleWindow = 1 + (seed % 2), Timeout = t,
            }, Bytes))),
            new("sft", (seed, t) => Of(new SftStream(new SftOptions { Files = sft, Seed = seed, Prefetch = 2, MaxTokens = 32, Timeout = t }, Bytes))),
            new("images", (seed, t) => Of(new ImageStream(new ImageStreamOptions
            {
                Files = images, Seed = seed, Prefetch = 2, Workers = 1 + (seed % 2), Timeout = t,
            }))),
            new("mix of packed text", (seed, t) => Of(new MixedStream<int[]>(
                [0.5, 0.5],
                [c => Packed(ids, seed, t, new IdTokenizer(), from: c), c => Packed(ids, seed + 1, t, new IdTokenizer(), from: c)],
                seed, 1))),
        ];
    }

    [Fact]
    public async Task Thousands_of_streams_stopped_early_leave_no_read_running_after_Dispose()
    {
        using var dir = new TempDir();
        var kinds = Kinds(dir);
        const int PerKind = 300;
        var failures = new ConcurrentQueue<string>();
        var probes = new ConcurrentBag<(string Kind, ReadProbe Probe)>();
        var clock = Stopwatch.StartNew();

        // Two consumers at once (the CI machine has two cores): each opens, partly reads and disposes streams of every kind.
        void Consume(int worker)
        {
            for (int i = worker; i < PerKind * kinds.Count; i += 2)
            {
                var kind = kinds[i % kinds.Count];
                var probe = new ReadProbe(i);
                ParquetReadHook.Current = probe.Hook;   // flows into the producer this stream starts
                var (stream, next) = kind.Open(i, null);
                ParquetReadHook.Current = null;
                probes.Add((kind.Name, probe));
                try
                {
                    for (int k = i % 5; k > 0 && next(); k--)
                    {
                    }
                }
                catch (Exception e) when (e is DataException or InvalidDataException)
                {
                    // The poisoned stream's producer failed: the consumer sees it, then disposes as a trainer does.
                }

                try
                {
                    stream.Dispose();
                }
                catch (Exception e)
                {
                    failures.Enqueue($"{kind.Name} #{i}: Dispose threw {e.GetType().Name}: {e.Message}");
                }

                probe.Disposed();
            }
        }

        await Task.WhenAll(Task.Run(() => Consume(0)), Task.Run(() => Consume(1)));
        await Task.Delay(100);   // reads left running (a bug) get the time to reach their next check
        foreach (var (name, count) in probes.Where(p => p.Probe.Violations > 0).GroupBy(p => p.Kind).Select(g => (g.Key, g.Count())))
        {
            failures.Enqueue($"{name}: {count} streams had a read running after Dispose returned");
        }

        Assert.True(failures.IsEmpty, string.Join("\n", failures.Take(20)));
        Assert.True(probes.Sum(p => p.Probe.Reads) >= PerKind * kinds.Count, "the streams read row groups before they were disposed");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"took {clock.Elapsed.TotalSeconds:0.0} s");
    }

    public static TheoryData<string> StuckKinds => ["packed text", "packed token ids", "labelled text", "sft", "images", "mix of packed text"];

    [Theory]
    [MemberData(nameof(StuckKinds))]
    public void A_producer_stuck_in_a_read_fails_the_read_and_Dispose_after_the_timeout_naming_the_file(string name)
    {
        using var dir = new TempDir();
        var kind = Kinds(dir).Single(k => k.Name == name);
        using var gate = new ManualResetEventSlim();
        // Every read blocks its thread until the test ends, deaf to cancellation (a hung network mount).
        ParquetReadHook.Current = (_, _, _) =>
        {
            gate.Wait(CancellationToken.None);
            return Task.CompletedTask;
        };
        var timeout = TimeSpan.FromMilliseconds(500);
        var (stream, next) = kind.Open(1, timeout);
        ParquetReadHook.Current = null;
        try
        {
            var clock = Stopwatch.StartNew();
            var read = Assert.Throws<DataException>(() => next());
            Assert.InRange(clock.Elapsed.TotalSeconds, 0.4, 5);
            Assert.Contains(".parquet, row group", read.Message);

            clock.Restart();
            var dispose = Assert.Throws<DataException>(stream.Dispose);
            Assert.InRange(clock.Elapsed.TotalSeconds, 0.4, 5);
            Assert.Contains("did not stop", dispose.Message);
            Assert.Contains(".parquet, row group", dispose.Message);
            Assert.Contains("data.timeout_s", dispose.Message);
        }
        finally
        {
            gate.Set();   // the hung read returns; its producer then stops and closes its own files
        }
    }
}
