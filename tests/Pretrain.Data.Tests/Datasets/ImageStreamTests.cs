using Pretrain.Data.Datasets;
using Pretrain.Data.Sampling;
using Pretrain.Data.Tests.Vision;
using Pretrain.Data.Vision;
using Pretrain.Data.Writing;

namespace Pretrain.Data.Tests.Datasets;

public sealed class ImageStreamTests
{
    private static readonly ImageTransformOptions Augment = new()
    {
        Channels = 3,
        RandomResizedCrop = new RandomResizedCropOptions { Size = 4, ScaleMin = 0.3 },
        HorizontalFlip = 0.5,
        ColorJitter = new ColorJitterOptions { Brightness = 0.4, Contrast = 0.4, Saturation = 0.4, Hue = 0.1, P = 0.8 },
        Grayscale = 0.2,
        Mean = [0.5f],
        Std = [0.25f],
    };

    private static ImageStream Open(IReadOnlyList<string> files, int rank = 0, int world = 1, int? maxEpochs = 1, DataCursor? resume = null,
        ImageTransformOptions? transform = null, bool twoViews = false, double holdout = 0, bool eval = false, int workers = 1,
        bool skipBad = false, int seed = 5) =>
        new(new ImageStreamOptions
        {
            Files = files,
            Seed = seed,
            Rank = rank,
            WorldSize = world,
            MaxEpochs = maxEpochs,
            Transform = transform ?? ImageTransformOptions.None,
            TwoViews = twoViews,
            HoldoutFraction = holdout,
            HoldoutSide = eval,
            Augment = !eval,
            Workers = workers,
            SkipBadImages = skipBad,
            Prefetch = 4,
        }, resume);

    private static List<(ImageSample Sample, DataCursor Cursor)> ReadAll(ImageStream stream, int limit = 100_000)
    {
        var items = new List<(ImageSample, DataCursor)>();
        while (items.Count < limit && stream.TryNext(out var sample, out var cursor))
        {
            items.Add((sample, cursor));
        }

        return items;
    }

    [Fact]
    public void DecodesEveryRowOnceWithItsLabelAndPixels()
    {
        using var dir = new TempDir();
        using var stream = Open(TestImages.WriteIdFiles(dir));
        var items = ReadAll(stream);
        Assert.Equal(TestImages.TotalRows, items.Count);
        Assert.Equal(Enumerable.Range(0, TestImages.TotalRows).Select(i => (long)i), items.Select(i => i.Sample.Label).Order());
        var s = items[0].Sample;
        Assert.Equal((1, 5, 6), (s.Channels, s.Height, s.Width));
        Assert.Equal(TestImages.GrayPixels(6, 5, (int)s.Label).Select(b => b / 255f), s.Pixels);
        Assert.Null(s.SecondView);
        Assert.Equal(new DataCursor(1, 0, 5, 1, []), items[^1].Cursor);
        Assert.Equal(0, stream.SamplesDropped);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void RanksTakeEachPositionExactlyOnceAndTheSameCount(int world)
    {
        using var dir = new TempDir();
        var files = TestImages.WriteIdFiles(dir);
        var perRank = new List<List<ImageSample>>();
        long dropped = 0;
        for (int r = 0; r < world; r++)
        {
            using var stream = Open(files, r, world, workers: r == 1 ? 2 : 1);
            perRank.Add(ReadAll(stream).Select(i => i.Sample).ToList());
            Assert.All(perRank[r], s => Assert.Equal(r, s.Position % world));
            dropped = stream.SamplesDropped;
        }

        int n = TestImages.TotalRows;
        Assert.All(perRank, list => Assert.Equal(n / world, list.Count));
        Assert.Equal(n % world, dropped);
        var labels = perRank.SelectMany(l => l.Select(s => s.Label)).ToList();
        Assert.Equal(labels.Count, labels.Distinct().Count());
        var positions = perRank.SelectMany(l => l.Select(s => s.Position)).Order();
        Assert.Equal(Enumerable.Range(0, n - (n % world)).Select(p => (long)p), positions);

        // The epoch order does not depend on the world size: position p holds the same row.
        using var single = Open(files);
        var byPosition = ReadAll(single).ToDictionary(i => i.Sample.Position, i => i.Sample.Label);
        Assert.All(perRank.SelectMany(l => l), s => Assert.Equal(byPosition[s.Position], s.Label));
    }

    [Fact]
    public void MidEpochResumeEqualsTheUninterruptedStreamPixelForPixel()
    {
        using var dir = new TempDir();
        var files = TestImages.WriteIdFiles(dir);
        using var full = Open(files, rank: 1, world: 2, maxEpochs: 2, transform: Augment, twoViews: true);
        var all = ReadAll(full);
        foreach (int k in new[] { 0, 7, 23, all.Count - 1 })
        {
            using var resumed = Open(files, rank: 1, world: 2, maxEpochs: 2, transform: Augment, twoViews: true,
                resume: DataCursor.FromJson(all[k].Cursor.ToJson()));
            var rest = ReadAll(resumed);
            Assert.Equal(all.Count - k - 1, rest.Count);
            for (int i = 0; i < rest.Count; i++)
            {
                var a = all[k + 1 + i].Sample;
                var b = rest[i].Sample;
                Assert.Equal((a.Epoch, a.Position, a.Label), (b.Epoch, b.Position, b.Label));
                Assert.Equal(a.Pixels, b.Pixels);
                Assert.Equal(a.SecondView, b.SecondView);
                Assert.Equal(all[k + 1 + i].Cursor, rest[i].Cursor);
            }
        }
    }

    [Fact]
    public void ResumeOnAnotherWorldSizeContinuesFromTheSamePosition()
    {
        using var dir = new TempDir();
        var files = TestImages.WriteIdFiles(dir);
        int n = TestImages.TotalRows;
        const int Steps = 9;
        var seen = new List<long>();
        var cursors = new List<DataCursor>();
        for (int r = 0; r < 2; r++)
        {
            using var stream = Open(files, r, 2);
            var items = ReadAll(stream, Steps);
            seen.AddRange(items.Select(i => i.Sample.Label));
            cursors.Add(items[^1].Cursor);
        }

        Assert.Equal(cursors[0], cursors[1]); // lockstep ranks hold the same cursor
        Assert.Equal(2 * Steps, cursors[0].SampleInEpoch);
        for (int r = 0; r < 3; r++)
        {
            using var stream = Open(files, r, 3, resume: cursors[0]);
            seen.AddRange(ReadAll(stream).Select(i => i.Sample.Label));
        }

        int leftover = (n - (2 * Steps)) % 3;
        Assert.Equal(n - leftover, seen.Count);
        Assert.Equal(seen.Count, seen.Distinct().Count());
    }

    [Fact]
    public void AugmentationIsDeterministicAndTheTwoViewsDiffer()
    {
        using var dir = new TempDir();
        var files = TestImages.WriteIdFiles(dir);
        using var a = Open(files, transform: Augment, twoViews: true);
        using var b = Open(files, transform: Augment, twoViews: true, workers: 3);
        var x = ReadAll(a);
        var y = ReadAll(b);
        Assert.Equal(x.Count, y.Count);
        int differ = 0;
        for (int i = 0; i < x.Count; i++)
        {
            var s = x[i].Sample;
            Assert.Equal((3, 4, 4), (s.Channels, s.Height, s.Width));
            Assert.Equal(s.Pixels.Length, s.SecondView!.Length);
            Assert.Equal(s.Pixels, y[i].Sample.Pixels);
            Assert.Equal(s.SecondView, y[i].Sample.SecondView);
            differ += s.Pixels.AsSpan().SequenceEqual(s.SecondView) ? 0 : 1;
        }

        Assert.True(differ > x.Count * 9 / 10, $"only {differ} of {x.Count} samples have two different views");

        // Another epoch augments the same row differently.
        using var two = Open(files, maxEpochs: 2, transform: Augment);
        var both = ReadAll(two).Select(i => i.Sample).ToList();
        var e0 = both.Where(s => s.Epoch == 0).ToDictionary(s => s.Label);
        Assert.Contains(both.Where(s => s.Epoch == 1), s => !s.Pixels.AsSpan().SequenceEqual(e0[s.Label].Pixels));
    }

    [Fact]
    public void EvalStreamIsDeterministicAndHoldoutIsDisjoint()
    {
        using var dir = new TempDir();
        var files = TestImages.WriteIdFiles(dir);
        using var train = Open(files, holdout: 0.3);
        using var eval1 = Open(files, holdout: 0.3, eval: true, transform: Augment, twoViews: true);
        var trainLabels = ReadAll(train).Select(i => i.Sample.Label).ToHashSet();
        var eval = ReadAll(eval1).Select(i => i.Sample).ToList();
        Assert.NotEmpty(eval);
        Assert.Equal(TestImages.TotalRows, trainLabels.Count + eval.Count);
        Assert.DoesNotContain(eval, s => trainLabels.Contains(s.Label));
        Assert.All(eval, s => Assert.Equal(s.Pixels, s.SecondView)); // no randomness in eval
        Assert.All(eval, s => Assert.Equal((3, 4, 4), (s.Channels, s.Height, s.Width)));
    }

    [Fact]
    public void AnUndecodableImageFailsNamingFileRowGroupColumnAndRow()
    {
        using var dir = new TempDir();
        // Global id 25 is row 2 of row group 0 in file 1 (file 0 holds ids 0..22; file 1 has 4 rows per group).
        var files = TestImages.WriteIdFiles(dir, new HashSet<int> { 25 });
        using var stream = Open(files);
        var e = Assert.Throws<DataException>(() => ReadAll(stream));
        Assert.Contains("images-1.parquet", e.Message);
        Assert.Contains("row group 0", e.Message);
        Assert.Contains("row 2", e.Message);
        Assert.Contains("column 'image'", e.Message);
        Assert.Contains("img/25.png", e.Message);
        Assert.Contains("cannot be decoded", e.Message);
        // The same exception again on the next call.
        Assert.Same(e, Assert.Throws<DataException>(() => stream.TryNext(out _, out _)));

        using var skipping = Open(files, skipBad: true);
        var items = ReadAll(skipping);
        Assert.Equal(TestImages.TotalRows - 1, items.Count);
        Assert.Equal(1, skipping.SamplesSkipped);
        Assert.DoesNotContain(items, i => i.Sample.Label == 25);
    }

    [Fact]
    public void UnlabelledImagesGetMinusOneAndNullLabelsFail()
    {
        using var dir = new TempDir();
        ImageParquetWriter.Write(dir.File("u.parquet"), Enumerable.Range(0, 3).Select(i => new ImageRow(TestImages.GrayPng(2, 2, i), null, null)).ToList(), 2);
        using var stream = new ImageStream(new ImageStreamOptions { Files = [dir.File("u.parquet")], LabelColumn = null, MaxEpochs = 1 });
        Assert.All(ReadAll(stream), i => Assert.Equal(-1, i.Sample.Label));
    }

    [Fact]
    public void BadOptionsAndForeignCursorsAreRejected()
    {
        using var dir = new TempDir();
        var files = TestImages.WriteIdFiles(dir);
        var e = Assert.Throws<DataException>(() => Open(files, rank: 2, world: 2));
        Assert.Contains("rank 2", e.Message);
        var seed = Assert.Throws<DataException>(() => Open(files, resume: new DataCursor(0, 4, 99, 1, [])));
        Assert.Contains("seed 99", seed.Message);
        var transform = Assert.Throws<DataException>(() => Open(files, transform: new ImageTransformOptions { Channels = 2 }));
        Assert.Contains("data.train.transform.channels", transform.Message);
    }

    [Fact]
    public void RankWalkCursorIsTheEndOfTheRound()
    {
        var units = new[] { new RowGroupRef(0, 0, 10) };
        var walk = new RankWalk(units, ["f.parquet"], seed: 1, rank: 1, worldSize: 3, shuffle: false, holdoutFraction: 0, holdoutSide: false);
        Assert.Equal(9, RankWalk.Limit(0, 10, 3));
        Assert.Equal(10, RankWalk.Limit(1, 10, 3));
        var rows = walk.Rows(walk.Order(0), 0).Single();
        Assert.Equal([1L, 4, 7], rows.Positions);
        Assert.Equal(new DataCursor(0, 3, 1, 3, []), walk.CursorAfter(0, 0, 9, 1));
        Assert.Equal(new DataCursor(1, 0, 1, 3, []), walk.CursorAfter(0, 0, 9, 7));
    }
}
