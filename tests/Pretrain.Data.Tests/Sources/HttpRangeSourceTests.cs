using Parquet;
using Parquet.Schema;
using Pretrain.Data.Sources;
using Pretrain.Data.Writing;

namespace Pretrain.Data.Tests.Sources;

public sealed class HttpRangeSourceTests
{
    private static readonly HttpSourceOptions Fast = new()
    {
        MaxRetries = 4,
        BaseDelay = TimeSpan.FromMilliseconds(20),
        MaxDelay = TimeSpan.FromMilliseconds(200),
        RequestTimeout = TimeSpan.FromMilliseconds(800),
    };

    /// <summary>A Parquet file of 8 row groups × 500 rows, each row ~200 bytes of incompressible-ish text.</summary>
    private static byte[] MultiGroupParquet(out List<string> rows)
    {
        var rng = new Random(11);
        rows = Enumerable.Range(0, 4000)
            .Select(i => $"row {i}: " + string.Concat(Enumerable.Range(0, 190).Select(_ => (char)('a' + rng.Next(26)))))
            .ToList();
        using var dir = new TempDir();
        TextParquetWriter.Write(dir.File("t.parquet"), rows, rowsPerGroup: 500);
        return File.ReadAllBytes(dir.File("t.parquet"));
    }

    [Fact]
    public async Task ReadsTheRightRowsThroughTransientFaultsAndFetchesOnlyWhatItReads()
    {
        byte[] file = MultiGroupParquet(out var rows);
        // Requests 1-3 answer 503, request 5 is reset mid-body, request 7 stalls past the per-attempt timeout.
        using var server = new LoopbackRangeServer(file) { FailFirst = 3, ResetAt = 5, StallAt = 7, Stall = TimeSpan.FromSeconds(2) };
        using var source = await HttpRangeSource.OpenAsync(server.Url, Fast);
        Assert.Equal(file.Length, source.Length);
        await using var stream = new ByteSourceStream(source, blockSize: 16 * 1024, ownsSource: false);
        await using var reader = await ParquetReader.CreateAsync(stream);
        Assert.Equal(8, reader.RowGroupCount);
        var field = reader.Schema.GetDataFields()[0];
        using var group = reader.OpenRowGroupReader(5);
        var values = new string?[group.RowCount];
        await group.ReadAsync(field, values.AsMemory());
        Assert.Equal(rows.Skip(2500).Take(500), values);
        Assert.True(source.Retries >= 5, $"expected retries for 3×503, a reset and a stall; saw {source.Retries}");

        // Footer plus one of eight row groups: far less than the file (blocks round each read up by < 2 × 16 KiB).
        long groupBytes = reader.Metadata!.RowGroups[5].TotalCompressedSize ?? reader.Metadata.RowGroups[5].TotalByteSize;
        Assert.InRange(source.BytesFetched, groupBytes, groupBytes + 64 * 1024 + 2 * 16 * 1024);
        Assert.True(source.BytesFetched < file.Length / 3, $"fetched {source.BytesFetched} of {file.Length} bytes");
        Assert.True(server.Requests < 30, $"{server.Requests} requests");
    }

    [Fact]
    public async Task ParquetTextSourceReadsUrlsThatFileResolverPassesThrough()
    {
        byte[] file = MultiGroupParquet(out var rows);
        using var server = new LoopbackRangeServer(file) { FailFirst = 1 };
        ParquetTextSource.HttpOptions = Fast;
        var files = FileResolver.Resolve([server.Url], "data.train.files");
        Assert.Equal([server.Url], files);
        await using var text = await ParquetTextSource.OpenAsync(files, "text");
        Assert.Equal(4000, text.TotalRows);
        Assert.Equal(rows.Skip(3500), await text.ReadRowGroupAsync(0, 7));
    }

    [Fact]
    public async Task NotFoundFailsAtOnceAndPersistentFaultsFailAfterRetriesNamingTheUrl()
    {
        using var server = new LoopbackRangeServer([1, 2, 3]) { FailFirst = 1000 };
        var missing = await Assert.ThrowsAsync<DataException>(() => HttpRangeSource.OpenAsync(server.Prefix + "missing.parquet", Fast));
        Assert.Contains(server.Prefix + "missing.parquet", missing.Message);
        Assert.Contains("404", missing.Message);
        Assert.Equal(1, server.Requests);

        var down = await Assert.ThrowsAsync<DataException>(() => HttpRangeSource.OpenAsync(server.Url, Fast));
        Assert.Contains(server.Url, down.Message);
        Assert.Contains("5 attempts", down.Message);
        Assert.Contains("503", down.Message);
        Assert.Equal(6, server.Requests);

        var viaSource = await Assert.ThrowsAsync<DataException>(() =>
            ParquetTextSource.OpenAsync([server.Prefix + "missing.parquet"], "text"));
        Assert.Contains("missing.parquet", viaSource.Message);
    }

    [Fact]
    public async Task LocalFileSourceAndStreamReadAcrossBlocks()
    {
        using var dir = new TempDir();
        byte[] data = Enumerable.Range(0, 100_000).Select(i => (byte)(i * 7)).ToArray();
        File.WriteAllBytes(dir.File("b.bin"), data);
        await using var stream = new ByteSourceStream(new LocalFileSource(dir.File("b.bin")), blockSize: 1000, cacheBytes: 4000);
        var buf = new byte[25_000];
        stream.Seek(-30_000, SeekOrigin.End);
        await stream.ReadExactlyAsync(buf);
        Assert.Equal(data.Skip(70_000).Take(25_000), buf);
        stream.Position = 5;
        Assert.Equal(3, stream.Read(buf, 0, 3));
        Assert.Equal(data[5..8], buf[..3]);
        stream.Position = data.Length - 2;
        Assert.Equal(2, await stream.ReadAsync(buf));
    }
}
