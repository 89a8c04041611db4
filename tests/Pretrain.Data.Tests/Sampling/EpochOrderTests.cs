using Pretrain.Data.Sampling;

namespace Pretrain.Data.Tests.Sampling;

public sealed class EpochOrderTests
{
    private static readonly RowGroupRef[] Units = [new(0, 0, 4), new(0, 1, 0), new(1, 0, 3), new(2, 0, 5)];

    [Fact]
    public void LocatesEveryPositionAndPermutesRowsWithinUnits()
    {
        var order = new EpochOrder(Units, seed: 1, epoch: 0, shuffle: true);
        Assert.Equal(12, order.Total);
        var seen = new HashSet<(int, int, int)>();
        for (long p = 0; p < order.Total; p++)
        {
            int u = order.UnitAt(p);
            Assert.InRange(p - order.Start(u), 0, order.Unit(u).Rows - 1);
            var unit = order.Unit(u);
            Assert.True(seen.Add((unit.File, unit.RowGroup, order.RowOrder(u)[p - order.Start(u)])));
        }

        Assert.Equal(order.Count, order.UnitAt(order.Total));
        Assert.Equal(12, seen.Count);
    }

    [Fact]
    public void SameSeedAndEpochGiveSameOrderUnshuffledIsFileOrder()
    {
        static string Describe(EpochOrder o) =>
            string.Join(";", Enumerable.Range(0, o.Count).Select(i => $"{o.Unit(i)}:{string.Join(",", o.RowOrder(i))}"));

        Assert.Equal(Describe(new EpochOrder(Units, 5, 2, true)), Describe(new EpochOrder(Units, 5, 2, true)));
        Assert.NotEqual(Describe(new EpochOrder(Units, 5, 2, true)), Describe(new EpochOrder(Units, 5, 3, true)));
        var plain = new EpochOrder(Units, 5, 2, shuffle: false);
        Assert.Equal(Units, Enumerable.Range(0, plain.Count).Select(plain.Unit));
        Assert.Equal([0, 1, 2, 3], plain.RowOrder(0));
    }

    [Fact]
    public void HoldoutIsDeterministicAndNearItsFraction()
    {
        var split = new HoldoutSplit(seed: 7, fraction: 0.25);
        ulong key = HoldoutSplit.FileKey("/a/b/part-00000.parquet");
        Assert.Equal(key, HoldoutSplit.FileKey("/elsewhere/part-00000.parquet"));
        int held = Enumerable.Range(0, 4000).Count(r => split.IsHeldOut(key, r / 100, r % 100));
        Assert.InRange(held, 850, 1150);
        Assert.False(new HoldoutSplit(7, 0).IsHeldOut(key, 0, 0));
    }

    [Fact]
    public void ShuffleWindowPermutesAllRowsOfAWindowAndWindowOneIsThePlainOrder()
    {
        var plain = new EpochOrder(Units, seed: 1, epoch: 0, shuffle: true);
        var one = new EpochOrder(Units, seed: 1, epoch: 0, shuffle: true, shuffleWindow: 1);
        for (long p = 0; p < plain.Total; p++)
        {
            int u = plain.UnitAt(p);
            Assert.Equal((u, plain.RowOrder(u)[p - plain.Start(u)]), one.Locate(p));
        }

        var windowed = new EpochOrder(Units, seed: 1, epoch: 0, shuffle: true, shuffleWindow: 2);
        var seen = new HashSet<(int File, int Group, int Row)>();
        for (long p = 0; p < windowed.Total; p++)
        {
            var (u, row) = windowed.Locate(p);
            var unit = windowed.Unit(u);
            Assert.InRange(row, 0, (int)unit.Rows - 1);
            Assert.True(seen.Add((unit.File, unit.RowGroup, row)));
            // A position's row comes from a unit of the position's own window.
            Assert.Equal(windowed.WindowOf(windowed.UnitAt(p)), windowed.WindowOf(u));
        }

        Assert.Equal(12, seen.Count);
        Assert.Throws<ArgumentOutOfRangeException>(() => new EpochOrder(Units, 1, 0, true, shuffleWindow: 0));
    }
}
