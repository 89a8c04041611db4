using Parquet;
using Parquet.Schema;
using Pretrain.Data.Sources;
using Pretrain.Data.Tests.Datasets;

namespace Pretrain.Data.Tests.Sources;

/// <summary>The reader cache every Parquet source uses: one read per reader at a time, safe across threads, no reader closed under a read.</summary>
public sealed class ParquetReaderCacheTests
{
    private static async Task<string?[]> ReadTextAsync(ParquetReader reader, int rowGroup, CancellationToken ct)
    {
        using var group = reader.OpenRowGroupReader(rowGroup);
        var field = (DataField)reader.Schema.Fields.Single(f => f.Name == "text");
        var values = new string?[group.RowCount];
        await group.ReadAsync(field, values.AsMemory(), null, ct);
        return values;
    }

    [Fact]
    public async Task Concurrent_reads_of_the_same_files_get_their_own_readers_and_the_right_rows()
    {
        using var dir = new TempDir();
        var files = StreamFixture.WriteIdFiles(dir);
        using var source = ParquetTextSource.Open(files, "text");   // the expected rows, read one at a time
        var expected = new Dictionary<(int, int), string?[]>();
        foreach (var u in source.Units)
        {
            expected[(u.File, u.RowGroup)] = await source.ReadRowGroupAsync(u.File, u.RowGroup);
        }

        var cache = new ParquetReaderCache(files, (path, ct) => ParquetReader.CreateAsync(path, null, ct), capacity: 2);

        // Four threads read every row group of three files 25 times over: with one shared reader per file (or an
        // unlocked list) they would interleave seeks on one stream or change the list while another walks it.
        var units = source.Units;
        await Task.WhenAll(Enumerable.Range(0, 4).Select(t => Task.Run(async () =>
        {
            for (int k = 0; k < 25 * units.Count; k++)
            {
                var u = units[(k * 7 + t) % units.Count];
                var rows = await cache.ReadAsync(u.File, (r, ct) => ReadTextAsync(r, u.RowGroup, ct), CancellationToken.None);
                Assert.Equal(expected[(u.File, u.RowGroup)], rows);
            }
        })));

        Assert.InRange(cache.OpenReaders, 1, 2);   // idle readers kept: at most the capacity
        cache.Dispose();
        Assert.Equal(0, cache.OpenReaders);
    }

    [Fact]
    public async Task Dispose_during_a_read_closes_that_reader_only_when_the_read_returns()
    {
        using var dir = new TempDir();
        var files = StreamFixture.WriteIdFiles(dir);
        var cache = new ParquetReaderCache(files, (path, ct) => ParquetReader.CreateAsync(path, null, ct));
        var inRead = new TaskCompletionSource();
        var finish = new TaskCompletionSource();
        var read = cache.ReadAsync(0, async (r, ct) =>
        {
            inRead.SetResult();
            await finish.Task;
            return await ReadTextAsync(r, 0, ct);   // the reader is still open: Dispose did not close it underneath
        }, CancellationToken.None);
        await inRead.Task;

        cache.Dispose();
        Assert.Equal(1, cache.OpenReaders);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => cache.ReadAsync(1, (r, ct) => ReadTextAsync(r, 0, ct), CancellationToken.None));

        finish.SetResult();
        Assert.Equal(new string?[] { "0", "1", "2", "3", "4" }, await read);
        Assert.Equal(0, cache.OpenReaders);
    }

    [Fact]
    public async Task A_read_that_throws_closes_its_reader_instead_of_reusing_it()
    {
        using var dir = new TempDir();
        var files = StreamFixture.WriteIdFiles(dir);
        int opened = 0;
        using var cache = new ParquetReaderCache(files, (path, ct) =>
        {
            Interlocked.Increment(ref opened);
            return ParquetReader.CreateAsync(path, null, ct);
        });
        await Assert.ThrowsAsync<InvalidDataException>(() => cache.ReadAsync<int>(0, (_, _) => throw new InvalidDataException("bad page"), CancellationToken.None));
        Assert.Equal(0, cache.OpenReaders);
        await cache.ReadAsync(0, (r, ct) => ReadTextAsync(r, 0, ct), CancellationToken.None);
        await cache.ReadAsync(0, (r, ct) => ReadTextAsync(r, 1, ct), CancellationToken.None);
        Assert.Equal(2, opened);   // one for the failed read, one reused by the next two
        Assert.Equal(1, cache.OpenReaders);
    }
}
