using Parquet;
using Parquet.Schema;
using Pretrain.Data.Datasets;
using Pretrain.Data.Sampling;
using Pretrain.Data.Synthetic;
using Pretrain.Data.Tests.Vision;
using Pretrain.Data.Text;
using Pretrain.Data.Vision;
using Pretrain.Data.Writing;

namespace Pretrain.Data.Tests.Datasets;

/// <summary>
/// data.train.shuffle_window on the row-walk streams (<see cref="RankWalk"/>: labelled text, images, SFT): a file sorted
/// by label gives mixed micro-batches, every row once per epoch on any number of ranks, resume continues exactly, window
/// 1 is the plain order, and holdout / label_fraction pick the same rows whatever the window.
/// </summary>
public sealed class RowShuffleWindowTests
{
    private const int Seed = 7;
    private static readonly ByteLevelTokenizer Bytes = new(["<eos>"]);

    /// <summary>(file, rows per row group, row groups): labels sorted, first half of each file's row groups class 0.</summary>
    private static readonly (int PerGroup, int Groups)[] Layout = [(60, 4), (50, 2)];
    private const int Total = 340;

    private static RowGroupRef[] Units() =>
        [.. Layout.SelectMany((l, f) => Enumerable.Range(0, l.Groups).Select(g => new RowGroupRef(f, g, l.PerGroup)))];

    private static int ClassOf(int file, int rowGroup) => rowGroup < Layout[file].Groups / 2 ? 0 : 1;

    private static async Task<IReadOnlyList<string>> WriteSorted(TempDir dir)
    {
        var paths = new List<string>();
        for (int f = 0; f < Layout.Length; f++)
        {
            string path = dir.File($"sorted-{f}.parquet");
            var text = new DataField<string>("text", true);
            var label = new DataField<long>("label");
            await using (var stream = File.Create(path))
            {
                await using var writer = await ParquetWriter.CreateAsync(new ParquetSchema(text, label), stream);
                for (int g = 0; g < Layout[f].Groups; g++)
                {
                    using var group = writer.CreateRowGroup();
                    await group.WriteAsync(text, Enumerable.Range(0, Layout[f].PerGroup).Select(r => (string?)$"f{f} g{g} r{r}").ToArray());
                    await group.WriteAsync<long>(label, Enumerable.Repeat((long)ClassOf(f, g), Layout[f].PerGroup).ToArray());
                }
            }

            paths.Add(path);
        }

        return paths;
    }

    private static LabelledTextStream Open(IReadOnlyList<string> files, int window, int rank = 0, int world = 1, int? maxEpochs = 1,
        DataCursor? resume = null, double holdout = 0, double labelFraction = 1) =>
        new(new LabelledTextOptions
        {
            Files = files,
            Seed = Seed,
            Rank = rank,
            WorldSize = world,
            MaxEpochs = maxEpochs,
            NumClasses = 2,
            ShuffleWindow = window,
            HoldoutFraction = holdout,
            LabelFraction = labelFraction,
            Prefetch = 3,
        }, Bytes, resume);

    private static List<(LabelledText Row, DataCursor After)> Drain(LabelledTextStream s, int max = int.MaxValue)
    {
        var rows = new List<(LabelledText, DataCursor)>();
        while (rows.Count < max && s.TryNext(out var row, out var after))
            rows.Add((row, after));
        return rows;
    }

    private static string Key(LabelledText r) => $"{r.File}/{r.RowGroup}/{r.Row}";

    /// <summary>Share of consecutive micro-batches of <paramref name="size"/> that hold both classes.</summary>
    private static double Mixed(IEnumerable<long> labels, int size) =>
        labels.Chunk(size).Where(b => b.Length == size).Average(b => b.Distinct().Count() > 1 ? 1.0 : 0.0);

    [Fact]
    public async Task Window_one_is_the_plain_row_group_then_row_order()
    {
        using var dir = new TempDir();
        var files = await WriteSorted(dir);
        for (int world = 1; world <= 3; world++)
        {
            for (int rank = 0; rank < world; rank++)
            {
                // Independent reference: the order before shuffle windows existed — ordered row groups, each's own row permutation.
                var expected = new List<string>();
                foreach (int epoch in new[] { 0, 1 })
                {
                    var order = new EpochOrder(Units(), Seed, epoch, shuffle: true);
                    long limit = RankWalk.Limit(0, order.Total, world);
                    for (int u = 0; u < order.Count; u++)
                    {
                        var rows = order.RowOrder(u);
                        for (int i = 0; i < rows.Length; i++)
                        {
                            long p = order.Start(u) + i;
                            if (p % world == rank && p < limit)
                                expected.Add($"{order.Unit(u).File}/{order.Unit(u).RowGroup}/{rows[i]}@{epoch}#{p}");
                        }
                    }
                }

                using var s = Open(files, window: 1, rank, world, maxEpochs: 2);
                Assert.Equal(expected, Drain(s).Select(r => $"{Key(r.Row)}@{r.Row.Epoch}#{r.Row.Position}"));
            }
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task A_label_sorted_file_gives_mixed_batches_and_every_row_once_per_epoch(int world)
    {
        using var dir = new TempDir();
        var files = await WriteSorted(dir);
        var mixed = new Dictionary<int, double>();
        foreach (int window in new[] { 1, 2, 3, 6 })
        {
            var perRank = new List<List<LabelledText>>();
            for (int rank = 0; rank < world; rank++)
            {
                using var s = Open(files, window, rank, world, maxEpochs: 2);
                perRank.Add([.. Drain(s).Select(r => r.Row)]);
            }

            foreach (int epoch in new[] { 0, 1 })
            {
                var keys = perRank.SelectMany(r => r.Where(x => x.Epoch == epoch).Select(Key)).ToList();
                Assert.Equal(Total - (Total % world), keys.Count);        // leftovers dropped, the same count on every rank
                Assert.Equal(keys.Count, keys.Distinct().Count());         // exactly once
            }

            Assert.All(perRank, r => Assert.Equal(perRank[0].Count, r.Count));
            Assert.All(perRank.SelectMany(r => r), x => Assert.Equal(ClassOf(x.File, x.RowGroup), x.Label));
            mixed[window] = perRank.Average(r => Mixed(r.Select(x => x.Label), 8));
        }

        // Window 1: a micro-batch mixes classes only where it straddles row groups; window ≥ 2 mixes most of them.
        Assert.True(mixed[1] < 0.4, $"window 1: {mixed[1]}");
        Assert.True(mixed[3] > 0.5, $"window 3: {mixed[3]}");
        Assert.True(mixed[6] > 0.8, $"window 6: {mixed[6]}");
        Assert.True(mixed[6] > mixed[1] + 0.4, string.Join(", ", mixed));
    }

    [Fact]
    public async Task Resume_mid_epoch_equals_the_uninterrupted_order_on_the_same_or_another_world_size()
    {
        using var dir = new TempDir();
        var files = await WriteSorted(dir);
        const int window = 3;
        var full = new List<List<(LabelledText Row, DataCursor After)>>();
        for (int rank = 0; rank < 2; rank++)
        {
            using var s = Open(files, window, rank, 2, maxEpochs: 2);
            full.Add(Drain(s));
        }

        foreach (int cut in new[] { 1, 59, 120, 170, 171, 260 })
        {
            // Ranks in lockstep hold the same cursor: the end of the round.
            Assert.Equal(full[0][cut - 1].After, full[1][cut - 1].After);
            var cursor = DataCursor.FromJson(full[0][cut - 1].After.ToJson());
            for (int rank = 0; rank < 2; rank++)
            {
                using var resumed = Open(files, window, rank, 2, maxEpochs: 2, resume: cursor);
                Assert.Equal(full[rank].Skip(cut).Select(r => $"{Key(r.Row)}@{r.Row.Epoch}"), Drain(resumed).Select(r => $"{Key(r.Row)}@{r.Row.Epoch}"));
            }
        }

        // Elastic: 2 ranks read 80 rows each, 3 ranks finish the epoch — every row once, (N − s) mod 3 dropped.
        var at = full[0][79].After;
        var keys = full.SelectMany(r => r.Take(80).Select(x => Key(x.Row))).ToList();
        for (int rank = 0; rank < 3; rank++)
        {
            using var s = Open(files, window, rank, 3, maxEpochs: 1, resume: at);
            keys.AddRange(Drain(s).Select(r => Key(r.Row)));
        }

        Assert.Equal(Total - ((Total - at.SampleInEpoch) % 3), keys.Count);
        Assert.Equal(keys.Count, keys.Distinct().Count());
    }

    [Fact]
    public async Task Holdout_and_label_fraction_pick_the_same_rows_whatever_the_window()
    {
        using var dir = new TempDir();
        var files = await WriteSorted(dir);
        List<string> Rows(int window)
        {
            using var s = Open(files, window, holdout: 0.3, labelFraction: 0.5);
            return [.. Drain(s).Select(r => Key(r.Row))];
        }

        var one = Rows(1);
        Assert.InRange(one.Count, 70, 170);                 // ~0.7 · 0.5 · 340
        foreach (int window in new[] { 2, 4, 6 })
        {
            var w = Rows(window);
            Assert.Equal(one.Order(), w.Order());
            Assert.NotEqual(one, w);                         // same rows, another order
        }
    }

    [Fact]
    public void A_window_reads_at_most_its_own_row_groups()
    {
        var units = Units();
        foreach (int window in new[] { 2, 4 })
        {
            var walk = new RankWalk(units, ["sorted-0.parquet", "sorted-1.parquet"], Seed, rank: 1, worldSize: 3, shuffle: true,
                holdoutFraction: 0, holdoutSide: false, shuffleWindow: window);
            var order = walk.Order(0);
            Assert.Equal(window, order.Window);
            var seen = new HashSet<RowGroupRef>();
            long last = -1;
            foreach (var w in walk.Rows(order, start: 7))
            {
                Assert.InRange(w.Units.Length, 1, window);
                Assert.All(w.Units, u => Assert.True(seen.Add(u)));  // each row group belongs to one window only
                Assert.All(w.Positions, p => Assert.Equal(1, p % 3));
                Assert.True(w.Positions[0] > last && w.Positions[0] >= 7);
                last = w.Positions[^1];
                for (int i = 0; i < w.Rows.Length; i++)
                {
                    var (u, row) = order.Locate(w.Positions[i]);
                    Assert.Equal((order.Unit(u), row), (w.Units[w.Slots[i]], w.Rows[i]));
                }
            }
        }

        Assert.Throws<ArgumentOutOfRangeException>(() => new RankWalk(units, ["a", "b"], Seed, 0, 1, true, 0, false, shuffleWindow: 0));
    }

    [Fact]
    public async Task Bad_window_names_the_key()
    {
        using var dir = new TempDir();
        var files = await WriteSorted(dir);
        var e = Assert.Throws<DataException>(() => Open(files, window: 0));
        Assert.Contains("data.train.shuffle_window must be at least 1 (got 0)", e.Message);
    }

    [Fact]
    public void Images_sorted_by_class_mix_and_resume_exactly()
    {
        using var dir = new TempDir();
        // 4 row groups of 10 images; image i has label i; rows 0..19 are class 0, 20..39 class 1.
        string path = dir.File("images.parquet");
        ImageParquetWriter.Write(path, [.. Enumerable.Range(0, 40).Select(i => new ImageRow(TestImages.GrayPng(6, 5, i), null, i))], rowsPerGroup: 10);
        ImageStream Open(int window, int rank, DataCursor? resume = null) => new(new ImageStreamOptions
        {
            Files = [path],
            Seed = Seed,
            Rank = rank,
            WorldSize = 2,
            MaxEpochs = 2,
            Transform = ImageTransformOptions.None,
            ShuffleWindow = window,
            Workers = 2,
            Prefetch = 4,
        }, resume);
        List<(ImageSample Sample, DataCursor After)> Drain(ImageStream s)
        {
            var items = new List<(ImageSample, DataCursor)>();
            while (s.TryNext(out var x, out var after))
                items.Add((x, after));
            return items;
        }

        var mixed = new Dictionary<int, double>();
        foreach (int window in new[] { 1, 4 })
        {
            var ranks = Enumerable.Range(0, 2).Select(r => { using var s = Open(window, r); return Drain(s); }).ToList();
            foreach (int epoch in new[] { 0, 1 })
                Assert.Equal(Enumerable.Range(0, 40).Select(i => (long)i), ranks.SelectMany(r => r).Where(x => x.Sample.Epoch == epoch).Select(x => x.Sample.Label).Order());
            // The pixels are the row's own (decoded from the row the position maps to).
            Assert.All(ranks.SelectMany(r => r), x => Assert.Equal(TestImages.GrayPixels(6, 5, (int)x.Sample.Label).Select(b => b / 255f), x.Sample.Pixels));
            mixed[window] = ranks.Average(r => Mixed(r.Select(x => x.Sample.Label / 20), 5));
            int cut = 13;
            using var resumed = Open(window, 1, ranks[1][cut - 1].After);
            Assert.Equal(ranks[1].Skip(cut).Select(x => (x.Sample.Label, x.Sample.Epoch)), Drain(resumed).Select(x => (x.Sample.Label, x.Sample.Epoch)));
        }

        Assert.Equal(0, mixed[1]);   // window 1: each rank's batch of 5 is its half of one 10-row group, so single-class
        Assert.True(mixed[4] > 0.5, $"window 4: {mixed[4]}");
    }

    [Fact]
    public void Sft_pairs_with_a_window_come_once_per_epoch_and_resume_exactly()
    {
        using var dir = new TempDir();
        var files = SyntheticSft.Write(dir.Path, 45, 2, 6, 3);
        SftStream Open(int window, int rank, DataCursor? resume = null) =>
            new(new SftOptions { Files = files, Seed = Seed, Rank = rank, WorldSize = 2, MaxEpochs = 1, MaxTokens = 64, ShuffleWindow = window }, Bytes, resume);
        List<(string Key, DataCursor After)> Drain(SftStream s)
        {
            var items = new List<(string, DataCursor)>();
            while (s.TryNext(out var x, out var after))
                items.Add(($"{x.File}/{x.RowGroup}/{x.Row}", after));
            return items;
        }

        var plain = Enumerable.Range(0, 2).SelectMany(r => { using var s = Open(1, r); return Drain(s).Select(x => x.Key); }).ToList();
        var ranks = Enumerable.Range(0, 2).Select(r => { using var s = Open(3, r); return Drain(s); }).ToList();
        var keys = ranks.SelectMany(r => r.Select(x => x.Key)).ToList();
        Assert.Equal(44, keys.Count);                    // 45 rows on 2 ranks: one dropped
        Assert.Equal(44, keys.Distinct().Count());
        Assert.NotEqual(plain, keys);
        using var resumed = Open(3, 0, ranks[0][9].After);
        Assert.Equal(ranks[0].Skip(10).Select(x => x.Key), Drain(resumed).Select(x => x.Key));
    }
}
