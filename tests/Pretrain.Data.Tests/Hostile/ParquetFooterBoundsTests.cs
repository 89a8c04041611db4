using Parquet;
using Parquet.Schema;
using Pretrain.Data.Sampling;
using Pretrain.Data.Sources;
using Pretrain.Data.Writing;

namespace Pretrain.Data.Tests.Hostile;

/// <summary>
/// Row counts in a Parquet footer are not trusted: memory sized by them is bounded before anything is allocated,
/// and impossible counts are refused naming the file and row group.
/// </summary>
public sealed class ParquetFooterBoundsTests
{
    /// <summary>A valid two-row-group file (3 + 2 rows) whose footer then declares <paramref name="rows"/> in row group 0.</summary>
    private static string Declaring(TempDir dir, long rows)
    {
        string good = dir.File("good.parquet");
        TextParquetWriter.Write(good, ["a", "b", "c", "d", "e"], 3);
        string path = dir.File($"declares-{rows}.parquet");
        var bytes = File.ReadAllBytes(good);
        File.WriteAllBytes(path, ParquetFooter.WithIntegers(bytes, new Dictionary<string, long> { ["3"] = rows + 2, ["4[0].3"] = rows }));
        return path;
    }

    /// <summary>Opens, orders and reads the first row group, as a training stream does.</summary>
    private static void OpenOrderRead(string path)
    {
        using var source = ParquetTextSource.Open([path], "text");
        var order = new EpochOrder(source.Units, seed: 1, epoch: 0, shuffle: true);
        var (unit, _) = order.Locate(0);
        var u = order.Unit(unit);
        source.ReadRowGroupAsync(u.File, u.RowGroup).GetAwaiter().GetResult();
    }

    [Theory]
    [InlineData(400_000_000L)]
    [InlineData(1_000_000_000_000L)]
    [InlineData(-5L)]
    public void Impossible_row_counts_are_refused_naming_file_and_row_group_before_memory_is_spent(long rows)
    {
        using var dir = new TempDir();
        string path = Declaring(dir, rows);
        Assert.True(new FileInfo(path).Length < 1000);
        long before = GC.GetTotalAllocatedBytes(precise: true);
        var e = Assert.Throws<DataException>(() => OpenOrderRead(path));
        long allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        Assert.Contains(path, e.Message);
        Assert.Contains("row group 0", e.Message);
        Assert.Contains(rows.ToString(System.Globalization.CultureInfo.InvariantCulture), e.Message);
        Assert.True(allocated < 64L << 20, $"allocated {allocated:N0} bytes");
    }

    [Fact]
    public async Task A_valid_file_of_ten_million_null_rows_still_reads()
    {
        using var dir = new TempDir();
        string path = dir.File("nulls.parquet");
        const int Rows = 10_000_000;
        var field = new DataField<string>("text", true);
        await using (var stream = File.Create(path))
        await using (var writer = await ParquetWriter.CreateAsync(new ParquetSchema(field), stream))
        using (var group = writer.CreateRowGroup())
        {
            await group.WriteAsync(field, new string?[Rows]);
        }

        using var source = ParquetTextSource.Open([path], "text");
        Assert.Equal(Rows, source.TotalRows);
        var order = new EpochOrder(source.Units, seed: 1, epoch: 0, shuffle: true);
        var seen = new HashSet<int>();
        for (long p = 0; p < 1000; p++)
            Assert.True(seen.Add(order.Locate(p).Row));
        var values = await source.ReadRowGroupAsync(0, 0);
        Assert.Equal(Rows, values.Length);
        Assert.All(values.Take(1000), v => Assert.Null(v));
    }

    [Fact]
    public void A_shuffle_window_too_large_to_permute_in_memory_is_refused()
    {
        var units = Enumerable.Range(0, 8).Select(g => new RowGroupRef(0, g, 20_000_000)).ToList();
        var e = Assert.Throws<DataException>(() => new EpochOrder(units, seed: 1, epoch: 0, shuffle: true, shuffleWindow: 8));
        Assert.Contains("shuffle_window", e.Message);
    }

    [Fact]
    public void A_truncated_file_is_called_truncated_naming_the_file()
    {
        using var dir = new TempDir();
        string good = dir.File("good.parquet");
        TextParquetWriter.Write(good, ["a", "b", "c"], 3);
        string path = dir.File("cut.parquet");
        var bytes = File.ReadAllBytes(good);
        File.WriteAllBytes(path, bytes[..(bytes.Length - 10)]);
        var e = Assert.Throws<DataException>(() => ParquetTextSource.Open([path], "text"));
        Assert.Contains(path, e.Message);
        Assert.Contains("truncated", e.Message);
        Assert.DoesNotContain("not a Parquet file", e.Message);
    }
}
