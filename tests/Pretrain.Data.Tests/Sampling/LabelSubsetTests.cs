using Pretrain.Data.Datasets;
using Pretrain.Data.Sampling;
using Pretrain.Data.Synthetic;

namespace Pretrain.Data.Tests.Sampling;

/// <summary>data.train.label_fraction: a fixed, seeded subset of the labelled rows, whatever the order they are read in.</summary>
public sealed class LabelSubsetTests
{
    // One pass over the train side, as (image bytes as text, label) keys: a row's identity without file/row fields.
    private static HashSet<string> Rows(IReadOnlyList<string> files, int seed, double fraction, bool shuffle, double holdout = 0)
    {
        using var stream = new ImageStream(new ImageStreamOptions
        {
            Files = files,
            Seed = seed,
            Shuffle = shuffle,
            MaxEpochs = 1,
            Augment = false,
            HoldoutFraction = holdout,
            LabelFraction = fraction,
        });
        var rows = new HashSet<string>();
        while (stream.TryNext(out var s, out _))
            Assert.True(rows.Add(Convert.ToBase64String(System.Runtime.InteropServices.MemoryMarshal.AsBytes(s.Pixels.AsSpan()).ToArray()) + "/" + s.Label));
        return rows;
    }

    [Fact]
    public void Same_seed_same_rows_whatever_the_order_and_about_the_fraction()
    {
        using var dir = new TempDir();
        var files = SyntheticImages.Write(dir.Path, rows: 600, shards: 3, rowsPerGroup: 50, seed: 4);
        var all = Rows(files, seed: 7, fraction: 1, shuffle: false);
        Assert.Equal(600, all.Count);

        var a = Rows(files, seed: 7, fraction: 0.1, shuffle: true);
        var b = Rows(files, seed: 7, fraction: 0.1, shuffle: false);    // another order, the same subset
        Assert.True(a.SetEquals(b));
        Assert.Subset(all, a);
        Assert.InRange(a.Count, 35, 85);                                 // 60 expected; binomial sd ≈ 7.3

        var other = Rows(files, seed: 8, fraction: 0.1, shuffle: true);
        Assert.False(a.SetEquals(other));
        Assert.True(a.Intersect(other).Count() < a.Count / 2);           // an independent draw overlaps ~10%

        var half = Rows(files, seed: 7, fraction: 0.5, shuffle: false);
        Assert.InRange(half.Count, 250, 350);
        Assert.Subset(half, a);                                          // the same hash threshold: 10% ⊂ 50%
    }

    [Fact]
    public void Subset_is_drawn_from_the_rows_not_held_out()
    {
        using var dir = new TempDir();
        var files = SyntheticImages.Write(dir.Path, rows: 400, shards: 2, rowsPerGroup: 50, seed: 5);
        var train = Rows(files, seed: 3, fraction: 1, shuffle: false, holdout: 0.25);
        var subset = Rows(files, seed: 3, fraction: 0.3, shuffle: false, holdout: 0.25);
        Assert.Subset(train, subset);
        Assert.InRange(subset.Count, (int)(train.Count * 0.3) - 30, (int)(train.Count * 0.3) + 30);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(1.5)]
    public void Fraction_outside_0_1_is_refused(double fraction)
    {
        using var dir = new TempDir();
        var files = SyntheticImages.Write(dir.Path, rows: 10, shards: 1, rowsPerGroup: 10, seed: 1);
        var e = Assert.Throws<DataException>(() => new ImageStream(new ImageStreamOptions { Files = files, LabelFraction = fraction }));
        Assert.Contains("data.train.label_fraction must be in (0, 1]", e.Message);
    }

    [Fact]
    public void Hash_threshold_is_monotone_in_the_fraction()
    {
        var (small, large) = (new LabelSubset(9, 0.2), new LabelSubset(9, 0.6));
        ulong key = HoldoutSplit.FileKey("part-00000.parquet");
        for (long row = 0; row < 2000; row++)
            Assert.True(!small.Keeps(key, 0, row) || large.Keeps(key, 0, row));
    }
}
