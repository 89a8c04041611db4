using Pretrain.Data.Datasets;
using Pretrain.Data.Sampling;
using Pretrain.Data.Synthetic;
using Pretrain.Data.Text;
using Pretrain.Data.Writing;
using static Pretrain.Data.Tests.Datasets.StreamFixture;

namespace Pretrain.Data.Tests.Datasets;

public sealed class PackedTextStreamTests
{
    private static PackedTextStream Open(IReadOnlyList<string> files, int blockSize = 1, int seed = 3, int rank = 0, int world = 1,
        int? maxEpochs = 1, DataCursor? resume = null, ITextTokenizer? tokenizer = null, double holdout = 0, bool eval = false,
        bool shuffle = true, int prefetch = 4) =>
        new(new PackedTextOptions
        {
            Files = files,
            BlockSize = blockSize,
            Seed = seed,
            Rank = rank,
            WorldSize = world,
            MaxEpochs = maxEpochs,
            HoldoutFraction = holdout,
            HoldoutSide = eval,
            Shuffle = shuffle,
            Prefetch = prefetch,
        }, tokenizer ?? new IdTokenizer(), resume);

    [Fact]
    public void BlocksOverlapByOneTokenAndEndDocsWithEos()
    {
        using var dir = new TempDir();
        using var stream = Open(WriteIdFiles(dir), blockSize: 5);
        var items = ReadAll(stream);
        Assert.All(items, i => Assert.Equal(6, i.Block.Length));
        for (int i = 1; i < items.Count; i++)
        {
            Assert.Equal(items[i - 1].Block[^1], items[i].Block[0]);
        }

        var tokens = Tokens(items.Select(i => i.Block));
        Assert.Equal(1 + 5 * items.Count, tokens.Count);
        for (int i = 0; i < tokens.Count; i++)
        {
            Assert.Equal(i % 2 == 1, tokens[i] == IdTokenizer.Eos); // id, EOS, id, EOS, ...
        }

        Assert.Equal(2 * TotalRows - tokens.Count, stream.TokensDropped); // the tail shorter than a block
        Assert.Equal(5L * items.Count, stream.TokensProduced);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void EveryRowOncePerEpochAcrossRanks(int world)
    {
        using var dir = new TempDir();
        var files = WriteIdFiles(dir);
        var perRank = new List<List<int>>();
        for (int rank = 0; rank < world; rank++)
        {
            using var stream = Open(files, rank: rank, world: world);
            perRank.Add(Docs(ReadAll(stream).Select(i => i.Block)));
            Assert.Equal(perRank[^1].Count, stream.RowsRead);
        }

        var all = perRank.SelectMany(d => d).ToList();
        Assert.Equal(TotalRows, all.Count);                                    // disjoint ...
        Assert.Equal(Enumerable.Range(0, TotalRows), all.Order());           // ... and complete
        Assert.All(perRank, d => Assert.InRange(d.Count, TotalRows / world - 1, TotalRows / world + 1));
    }

    [Fact]
    public void EpochOrderIsPermutationFromSeedAndEpoch()
    {
        using var dir = new TempDir();
        var files = WriteIdFiles(dir);
        List<int> Run(int seed, bool shuffle = true)
        {
            using var stream = Open(files, seed: seed, maxEpochs: 2, shuffle: shuffle);
            return Docs(ReadAll(stream).Select(i => i.Block));
        }

        var a = Run(seed: 3);
        Assert.Equal(2 * TotalRows, a.Count);
        var epoch0 = a.Take(TotalRows).ToList();
        var epoch1 = a.Skip(TotalRows).ToList();
        Assert.Equal(Enumerable.Range(0, TotalRows), epoch0.Order());
        Assert.Equal(Enumerable.Range(0, TotalRows), epoch1.Order());
        Assert.NotEqual(epoch0, epoch1);
        Assert.NotEqual(Enumerable.Range(0, TotalRows), epoch0);
        Assert.Equal(a, Run(seed: 3));
        Assert.NotEqual(a, Run(seed: 4));
        Assert.Equal(Enumerable.Range(0, TotalRows).Concat(Enumerable.Range(0, TotalRows)), Run(seed: 3, shuffle: false));
    }

    [Theory]
    [InlineData(1, 0)]
    [InlineData(2, 1)]
    [InlineData(3, 2)]
    public void ResumeFromAnyCursorContinuesIdentically(int world, int rank)
    {
        using var dir = new TempDir();
        var files = SyntheticText.Write(dir.File("syn"), rows: 40, shards: 3, rowsPerGroup: 6, seed: 1);
        var tokenizer = new ByteLevelTokenizer(["<eos>"]);
        List<(int[] Block, DataCursor Cursor, long RowsRead)> reference;
        using (var stream = Open(files, blockSize: 48, rank: rank, world: world, maxEpochs: 2, tokenizer: tokenizer))
        {
            reference = ReadAll(stream);
        }

        Assert.True(reference.Count > 60);
        Assert.Contains(reference, r => r.Cursor.PendingTokens.Length > 48); // some cursors sit mid-document
        int[] cuts = [0, 1, 2, 7, reference.Count / 3, reference.Count / 2, reference.Count - 2, reference.Count - 1];
        cuts = [.. cuts, reference.FindIndex(r => r.Cursor.Epoch == 1) - 1, reference.FindIndex(r => r.Cursor.Epoch == 1)];
        foreach (int k in cuts.Distinct())
        {
            var cursor = DataCursor.FromJson(reference[k].Cursor.ToJson());
            var counting = new CountingTokenizer(tokenizer);
            using var resumed = Open(files, blockSize: 48, rank: rank, world: world, maxEpochs: 2, tokenizer: counting, resume: cursor);
            Assert.Equal(cursor, resumed.Cursor);
            var rest = ReadAll(resumed);
            Assert.Equal(reference.Count - k - 1, rest.Count);
            for (int i = 0; i < rest.Count; i++)
            {
                Assert.Equal(reference[k + 1 + i].Block, rest[i].Block);
                Assert.Equal(reference[k + 1 + i].Cursor, rest[i].Cursor);
            }

            // Consumed rows are skipped, not re-tokenized.
            Assert.Equal(reference[^1].RowsRead - reference[k].RowsRead, counting.Calls);
        }
    }

    [Fact]
    public void HoldoutSplitIsDisjointCompleteAndDeterministic()
    {
        using var dir = new TempDir();
        var files = WriteIdFiles(dir);
        List<int> Run(bool eval, bool shuffle)
        {
            using var stream = Open(files, holdout: 0.3, eval: eval, shuffle: shuffle);
            return Docs(ReadAll(stream).Select(i => i.Block));
        }

        var train = Run(eval: false, shuffle: true);
        var heldOut = Run(eval: true, shuffle: false);
        Assert.InRange(heldOut.Count, 5, 25);
        Assert.Empty(train.Intersect(heldOut));
        Assert.Equal(Enumerable.Range(0, TotalRows), train.Concat(heldOut).Order());
        Assert.Equal(heldOut.Order(), heldOut); // file order
        Assert.Equal(heldOut, Run(eval: true, shuffle: false));
    }

    [Fact]
    public void NullAndEmptyRowsAreSkippedAndCounted()
    {
        using var dir = new TempDir();
        string path = dir.File("gaps.parquet");
        TextParquetWriter.Write(path, ["1", null, "", "2", null], rowsPerGroup: 2);
        using var stream = Open([path], shuffle: false);
        Assert.Equal([1, 2], Docs(ReadAll(stream).Select(i => i.Block)));
        Assert.Equal(2, stream.RowsRead);
        Assert.Equal(3, stream.RowsSkipped);
    }

    [Fact]
    public void ResumeWithAnotherSeedIsRefused()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<DataException>(() => Open(WriteIdFiles(dir), seed: 3, resume: DataCursor.Start(9, 1)));
        Assert.Contains("seed 9", e.Message);
    }

    [Fact]
    public void EndlessStreamWithNothingToYieldFailsInsteadOfHanging()
    {
        using var dir = new TempDir();
        using var stream = Open(WriteIdFiles(dir), maxEpochs: null, holdout: 0, eval: true);
        var e = Assert.Throws<DataException>(() => stream.TryNext(out _, out _));
        Assert.Contains("held-out", e.Message);
    }

    [Fact]
    public void DisposeWhileProducerWaitsOnFullQueueReturns()
    {
        using var dir = new TempDir();
        var stream = Open(WriteIdFiles(dir), maxEpochs: null, prefetch: 1);
        Assert.True(stream.TryNext(out _, out _));
        Thread.Sleep(100); // let the producer fill the queue and block on it
        var watch = System.Diagnostics.Stopwatch.StartNew();
        stream.Dispose();
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"Dispose took {watch.Elapsed}");
        Assert.Throws<ObjectDisposedException>(() => stream.TryNext(out _, out _));
    }

    [Fact]
    public void ProducerFailureSurfacesOnTryNextEveryTime()
    {
        using var dir = new TempDir();
        var boom = new DataException("row 30 is bad");
        var tokenizer = new IdTokenizer { Fail = text => text == "30" ? boom : null };
        using var stream = Open(WriteIdFiles(dir), shuffle: false, tokenizer: tokenizer, prefetch: 2);
        var first = Assert.Throws<DataException>(() => ReadAll(stream));
        Assert.Same(boom, first);
        Assert.Same(boom, Assert.Throws<DataException>(() => stream.TryNext(out _, out _)));
    }

    /// <summary>Counts Encode calls of an inner tokenizer.</summary>
    private sealed class CountingTokenizer(ITextTokenizer inner) : ITextTokenizer
    {
        public long Calls;

        public string Kind => inner.Kind;

        public int VocabSize => inner.VocabSize;

        public int EosId => inner.EosId;

        public int[] Encode(string text)
        {
            Interlocked.Increment(ref Calls);
            return inner.Encode(text);
        }

        public string Decode(IReadOnlyList<int> ids) => inner.Decode(ids);

        public void Save(string directory) => inner.Save(directory);
    }
}
