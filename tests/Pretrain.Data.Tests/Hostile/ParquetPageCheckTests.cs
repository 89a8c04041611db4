using System.Buffers.Binary;
using System.Diagnostics;
using Parquet;
using Parquet.Schema;
using Pretrain.Data.Sources;
using Pretrain.Data.Writing;

namespace Pretrain.Data.Tests.Hostile;

/// <summary>
/// The classes of damaged files that tools/fuzz found crashing inside Parquet.Net (issue 10: 2.6 % of 100k inputs),
/// one test each, rebuilt here from a valid file by editing its bytes: each is now refused by our footer or page check,
/// before Parquet.Net decodes, with one line naming the file, row group, page and what is wrong — and no
/// NullReference, IndexOutOfRange or ArgumentOutOfRange anywhere in the chain.
/// </summary>
public sealed class ParquetPageCheckTests
{
    private static readonly string[] Rows = ["alpha", null!, "beta gamma", "", "delta", "epsilon zeta eta"];

    /// <summary>One row group of <see cref="Rows"/>, stored uncompressed so that page bytes can be edited in place.</summary>
    private static byte[] Uncompressed(TempDir dir)
    {
        string path = dir.File("plain.parquet");
        var field = new DataField<string>("text", true);
        WriteAsync().GetAwaiter().GetResult();
        return File.ReadAllBytes(path);

        async Task WriteAsync()
        {
            await using var stream = File.Create(path);
            var options = new ParquetOptions { CompressionMethod = CompressionMethod.None };
            await using var writer = await ParquetWriter.CreateAsync(new ParquetSchema(field), stream, options);
            using var group = writer.CreateRowGroup();
            await group.WriteAsync(field, Rows);
        }
    }

    /// <summary>Footer integer of the only column chunk of row group 0 (ColumnMetaData field <paramref name="field"/>).</summary>
    private static long ChunkField(byte[] file, int field)
    {
        var (_, footer) = ParquetFooter.Split(file);
        return ParquetFooter.Integers(footer).Single(x => x.Path == $"4[0].1[0].3.{field}").Value;
    }

    /// <summary>The file with integers of its first page header replaced (same varint lengths keep every offset).</summary>
    private static byte[] WithPageHeader(byte[] file, Dictionary<string, long> values)
    {
        int start = (int)ChunkField(file, 9); // data_page_offset
        var edited = ParquetFooter.Walk(file[start..], (path, _) => values.TryGetValue(path, out long v) ? v : null);
        Assert.Equal(file.Length - start, edited.Length);
        return [.. file[..start], .. edited];
    }

    /// <summary>Where the first (only) page's data starts: the chunk's end less the page's stored size.</summary>
    private static int PageData(byte[] file)
    {
        int start = (int)ChunkField(file, 9);
        long chunk = ChunkField(file, 7); // total_compressed_size
        long stored = ParquetFooter.Integers(file[start..]).First(x => x.Path == "3").Value;
        return (int)(start + chunk - stored);
    }

    private static DataException Refused(TempDir dir, byte[] bytes)
    {
        string path = dir.File("damaged.parquet");
        File.WriteAllBytes(path, bytes);
        var clock = Stopwatch.StartNew();
        var e = Assert.Throws<DataException>(() =>
        {
            using var source = ParquetTextSource.Open([path], "text");
            for (int g = 0; g < source.Units.Count; g++)
                source.ReadRowGroupAsync(0, g).GetAwaiter().GetResult();
        });
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
        Assert.Contains(path, e.Message);
        Assert.DoesNotContain('\n', e.Message);
        for (Exception? inner = e; inner is not null; inner = inner.InnerException)
        {
            Assert.False(inner is ArgumentOutOfRangeException or IndexOutOfRangeException or NullReferenceException
                or InvalidOperationException or NotSupportedException, inner.ToString());
            Assert.DoesNotContain("Parquet.Net:", inner.Message); // refused by our check, not after Parquet.Net failed
        }

        return e;
    }

    [Fact]
    public async Task The_edited_file_is_valid_before_each_edit()
    {
        using var dir = new TempDir();
        string path = dir.File("valid.parquet");
        File.WriteAllBytes(path, Uncompressed(dir));
        using var source = ParquetTextSource.Open([path], "text");
        Assert.Equal(Rows.Select(r => (string?)r), await source.ReadRowGroupAsync(0, 0));
        Assert.Equal(0, source.FallbackReads);
    }

    [Fact]
    public void A_PLAIN_value_whose_length_runs_past_the_page_is_refused()
    {
        // was: ArgumentOutOfRangeException in ParquetPlainEncoder.Decode (the largest class, 82 of 237 at 10k inputs)
        using var dir = new TempDir();
        var bytes = Uncompressed(dir);
        int alpha = bytes.AsSpan().IndexOf("alpha"u8);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(alpha - 4), 1000);
        var e = Refused(dir, bytes);
        Assert.Contains("row group 0", e.Message);
        Assert.Contains("page 0", e.Message);
        Assert.Contains("PLAIN values", e.Message);
    }

    [Fact]
    public void Definition_levels_longer_than_the_page_are_refused()
    {
        // was: IndexOutOfRangeException in MemoryExtensions.ReadInt32 / ArgumentOutOfRange slicing the levels
        using var dir = new TempDir();
        var bytes = Uncompressed(dir);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(PageData(bytes)), int.MaxValue);
        var e = Refused(dir, bytes);
        Assert.Contains("bytes of definition levels", e.Message);
    }

    [Fact]
    public void A_bit_packed_run_cut_off_by_the_page_is_refused()
    {
        // was: ArgumentOutOfRangeException / IndexOutOfRangeException in RleBitpackedHybridEncoder
        using var dir = new TempDir();
        var bytes = Uncompressed(dir);
        int data = PageData(bytes);
        bytes[data + 4] = 0x7F; // the first run: bit-packed, 63 groups of 8 levels, in a few bytes
        var e = Refused(dir, bytes);
        Assert.Contains("bit-packed run", e.Message);
    }

    [Fact]
    public void A_page_declaring_more_values_than_its_chunk_is_refused()
    {
        // was: IndexOutOfRangeException writing levels past the row group's buffer in ReadDataPageV1Async
        using var dir = new TempDir();
        var e = Refused(dir, WithPageHeader(Uncompressed(dir), new() { ["5.1"] = 50 }));
        Assert.Contains("declares 50 values", e.Message);
    }

    [Fact]
    public void A_page_of_negative_size_is_refused()
    {
        // was: ArgumentOutOfRangeException "Start and length must be non-negative" in ReadStreamSubStream/ReadPageDataAsync
        using var dir = new TempDir();
        var bytes = Uncompressed(dir);
        long stored = ParquetFooter.Integers(bytes[(int)ChunkField(bytes, 9)..]).First(x => x.Path == "3").Value;
        var e = Refused(dir, WithPageHeader(bytes, new() { ["3"] = -stored })); // zigzag keeps the varint's length
        Assert.Contains("negative size", e.Message);
    }

    [Fact]
    public void An_uncompressed_page_declaring_another_uncompressed_size_is_refused()
    {
        // Parquet.Net would allocate the declared size and decode the pool's leftover bytes past the stored ones
        using var dir = new TempDir();
        var bytes = Uncompressed(dir);
        long declared = ParquetFooter.Integers(bytes[(int)ChunkField(bytes, 9)..]).First(x => x.Path == "2").Value;
        var e = Refused(dir, WithPageHeader(bytes, new() { ["2"] = declared + 1 }));
        Assert.Contains("uncompressed bytes", e.Message);
    }

    [Fact]
    public void A_column_chunk_without_metadata_is_refused_before_Parquet_Net_parses_the_footer()
    {
        // was: NullReferenceException in ParquetReader.InitRowGroupReaders / ThriftExtensions.GetPath
        using var dir = new TempDir();
        var bytes = Uncompressed(dir);
        const long Sentinel = 0x1234567; // file_offset set to a value whose varint occurs once; meta_data follows it
        var marked = ParquetFooter.WithIntegers(bytes, new Dictionary<string, long> { ["4[0].1[0].2"] = Sentinel });
        byte[] varint = [0xCE, 0x95, 0x9A, 0x12]; // zigzag(0x1234567) as a varint
        int at = marked.AsSpan().IndexOf(varint);
        Assert.Equal(0x1C, marked[at + varint.Length]); // field 3 (meta_data), a struct
        marked[at + varint.Length] = 0xFC;               // now field 17, unknown (skipped): the chunk has no meta_data
        var e = Refused(dir, marked);
        // Skipped as Parquet.Net skips an unknown struct (headers only), the metadata's bytes read as further fields of
        // the chunk; whichever of them is refused first, the footer is named as damaged.
        Assert.Contains("its footer is damaged", e.Message);
    }

    /// <summary>
    /// An unknown struct field {1: i32 = 1} — valid Thrift that a proper walk skips in 4 bytes. Parquet.Net 6.1 skips
    /// an unknown struct by reading field headers only, so it reads the i32's value (0x02) as a header whose id follows
    /// in the next byte (the struct's stop) and ends the struct one stop byte later: the two readers part ways there.
    /// </summary>
    private static readonly byte[] UnknownStruct = [0x15, 0x02, 0x00];

    [Fact]
    public void A_page_header_with_an_unknown_struct_field_is_read_as_Parquet_Net_reads_it()
    {
        // was (tools/fuzz, seed 21, 100k: 8 inputs): IndexOutOfRangeException in RleBitpackedHybridEncoder.Decode —
        // Parquet.Net's page header ended 4 bytes later than the check's, so it decoded the levels from other bytes
        using var dir = new TempDir();
        var bytes = Uncompressed(dir);
        int data = PageData(bytes);
        Assert.Equal([0x00, 0x00], bytes[(data - 2)..data]); // the data page header's stop, the page header's
        byte[] field = [0xFC, .. UnknownStruct];                // field 5 + 15 = 20 (unknown), a struct
        byte[] edited = [.. bytes[..(data - 1)], .. field, .. bytes[(data - 1)..]];
        long stored = ChunkField(bytes, 7), uncompressed = ChunkField(bytes, 6);
        edited = ParquetFooter.WithIntegers(edited, new Dictionary<string, long>
        {
            ["4[0].1[0].3.7"] = stored + field.Length,
            ["4[0].1[0].3.6"] = uncompressed + field.Length,
        });
        var e = Refused(dir, edited);
        Assert.Contains("row group 0", e.Message);
        Assert.Contains("page 0", e.Message);
    }

    /// <summary>The fuzz target's labelled seed: text and label columns, two row groups, Parquet.Net's defaults (Snappy).</summary>
    private static byte[] Labelled(TempDir dir)
    {
        string path = dir.File("labelled.parquet");
        var text = new DataField<string>("text", true);
        var label = new DataField<long>("label");
        WriteAsync().GetAwaiter().GetResult();
        return File.ReadAllBytes(path);

        async Task WriteAsync()
        {
            await using var stream = File.Create(path);
            await using var writer = await ParquetWriter.CreateAsync(new ParquetSchema(text, label), stream);
            for (int g = 0; g < 2; g++)
            {
                using var group = writer.CreateRowGroup();
                await group.WriteAsync(text, new string?[] { "x", "", null, "y z" });
                await group.WriteAsync<long>(label, new long[] { 0, 1, 0, 1 }.AsMemory());
            }
        }
    }

    [Theory]
    [InlineData(0xCC)] // 9 + 12 = 21: was NullReferenceException in ParquetReader.InitRowGroupReaders / GetPath (6 of 100k)
    [InlineData(0xBC)] // 9 + 11 = 20: was IndexOutOfRangeException in ReadDataPageV1Async (RleBitpackedHybridEncoder)
    public void A_column_chunk_whose_statistics_field_id_became_unknown_is_read_as_Parquet_Net_reads_it(int header)
    {
        // tools/fuzz, seed 21, 100k inputs: the statistics' field header (12, a struct) of the second row group's text
        // chunk mutated to an unknown id. The check skipped the struct properly and found the rest of the metadata;
        // Parquet.Net's header-only skip read the statistics' values as field headers and the rest of the chunk's
        // metadata into other fields.
        using var dir = new TempDir();
        var bytes = Labelled(dir);
        var (_, footer) = ParquetFooter.Split(bytes);
        long dataPage = ParquetFooter.Integers(footer).Single(x => x.Path == "4[1].1[0].3.9").Value;
        var varint = new List<byte>();
        for (ulong v = (ulong)dataPage << 1; ; v >>= 7)
        {
            varint.Add((byte)(v < 0x80 ? v : (v & 0x7F) | 0x80));
            if (v < 0x80)
                break;
        }

        byte[] statistics = [0x26, .. varint, 0x3C]; // data_page_offset (9, i64), then statistics (9 + 3 = 12, a struct)
        int at = bytes.AsSpan().IndexOf(statistics);
        Assert.True(at > 0 && bytes.AsSpan(at + 1).IndexOf(statistics) < 0);
        bytes[at + statistics.Length - 1] = (byte)header;
        Refused(dir, bytes);
    }

    /// <summary>Asserts one line naming the file, from our check (no library exception in the chain).</summary>
    private static void OurLine(string path, DataException e)
    {
        Assert.Contains(path, e.Message);
        Assert.DoesNotContain('\n', e.Message);
        for (Exception? inner = e; inner is not null; inner = inner.InnerException)
        {
            Assert.False(inner is ArgumentOutOfRangeException or IndexOutOfRangeException or NullReferenceException, inner.ToString());
            Assert.DoesNotContain("corrupt or unreadable", inner.Message); // our check's line, not a library failure wrapped
        }
    }

    [Fact]
    public async Task An_image_chunk_with_a_damaged_PLAIN_length_is_refused_by_the_page_check()
    {
        // was: the image source read pages unchecked (ArgumentOutOfRangeException in ParquetPlainEncoder.Decode, wrapped)
        using var dir = new TempDir();
        string path = dir.File("images.parquet");
        var image = new DataField<byte[]>("image", true);
        var label = new DataField<long>("label");
        await using (var stream = File.Create(path))
        {
            await using var writer = await ParquetWriter.CreateAsync(new ParquetSchema(image, label), stream,
                new ParquetOptions { CompressionMethod = CompressionMethod.None });
            using var group = writer.CreateRowGroup();
            await group.WriteAsync(image, new[] { "IMAGE-ONE"u8.ToArray(), null, "IMAGE-TWO"u8.ToArray() });
            await group.WriteAsync<long>(label, new long[] { 0, 1, 2 }.AsMemory());
        }

        using (var valid = ParquetImageSource.Open([path], "image", "label"))
        {
            var rows = await valid.ReadRowGroupAsync(0, 0);
            Assert.Equal("IMAGE-TWO"u8.ToArray(), rows.Bytes[2]);
        }

        var bytes = File.ReadAllBytes(path);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(bytes.AsSpan().IndexOf("IMAGE-TWO"u8) - 4), 1000);
        File.WriteAllBytes(path, bytes);
        using var source = ParquetImageSource.Open([path], "image", "label");
        var e = await Assert.ThrowsAsync<DataException>(() => source.ReadRowGroupAsync(0, 0));
        OurLine(path, e);
        Assert.Contains("row group 0 (column 'image') is damaged: page 0", e.Message);
        Assert.Contains("PLAIN values", e.Message);
    }

    [Fact]
    public async Task A_label_chunk_with_damaged_definition_levels_is_refused_by_the_page_check()
    {
        // was: the label column read pages unchecked (IndexOutOfRange / ArgumentOutOfRange in Parquet.Net, wrapped)
        using var dir = new TempDir();
        string path = dir.File("labelled.parquet");
        var label = new DataField<long?>("label"); // first, so that the file's first chunk is the label's
        var text = new DataField<string>("text", true);
        await using (var stream = File.Create(path))
        {
            await using var writer = await ParquetWriter.CreateAsync(new ParquetSchema(label, text), stream,
                new ParquetOptions { CompressionMethod = CompressionMethod.None });
            using var group = writer.CreateRowGroup();
            await group.WriteAsync<long>(label, new long?[] { 3, null, 1 }.AsMemory());
            await group.WriteAsync(text, new[] { "a", "b", "c" });
        }

        using (var valid = ParquetLabelColumn.Open([path], "label", "data.train"))
        {
            Assert.Equal(new long?[] { 3, null, 1 }, await valid.ReadRowGroupAsync(0, 0));
        }

        var bytes = File.ReadAllBytes(path);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(PageData(bytes)), int.MaxValue);
        File.WriteAllBytes(path, bytes);
        using var labels = ParquetLabelColumn.Open([path], "label", "data.train");
        var e = await Assert.ThrowsAsync<DataException>(() => labels.ReadRowGroupAsync(0, 0));
        OurLine(path, e);
        Assert.Contains("row group 0 (column 'label') is damaged: page 0", e.Message);
        Assert.Contains("bytes of definition levels", e.Message);
    }

    [Fact]
    public async Task A_damaged_page_of_an_http_file_is_refused_by_the_page_check_over_range_reads()
    {
        // was: http(s) files skipped the page check; Parquet.Net's ArgumentOutOfRange was wrapped (ParquetSharp, the
        // fallback, cannot open a URL)
        using var dir = new TempDir();
        var bytes = Uncompressed(dir);
        int alpha = bytes.AsSpan().IndexOf("alpha"u8);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(alpha - 4), 1000);
        using var server = new Sources.LoopbackRangeServer(bytes);
        ParquetTextSource.HttpOptions = new HttpSourceOptions { MaxRetries = 1, BaseDelay = TimeSpan.FromMilliseconds(20), RequestTimeout = TimeSpan.FromSeconds(5) };
        await using var source = await ParquetTextSource.OpenAsync([server.Url], "text");
        var e = await Assert.ThrowsAsync<DataException>(() => source.ReadRowGroupAsync(0, 0));
        OurLine(server.Url, e);
        Assert.Contains("row group 0 (column 'text') is damaged: page 0", e.Message);
        Assert.Contains("PLAIN values", e.Message);
    }

    [Fact]
    public void A_string_column_whose_physical_type_is_not_BYTE_ARRAY_is_refused()
    {
        // was: ArgumentOutOfRangeException in BitConverter.ToInt64 decoding the chunk's statistics as INT64
        using var dir = new TempDir();
        var e = Refused(dir, ParquetFooter.WithIntegers(Uncompressed(dir), new Dictionary<string, long> { ["2[1].1"] = 2 }));
        Assert.Contains("as a string, but its physical type is INT64", e.Message);
    }

    [Fact]
    public void A_physical_type_that_does_not_exist_is_refused()
    {
        // was: NotSupportedException "unsupported type 2394" from Parquet.Net's schema decoder
        using var dir = new TempDir();
        var e = Refused(dir, ParquetFooter.WithIntegers(Uncompressed(dir), new Dictionary<string, long> { ["2[1].1"] = 2394 }));
        Assert.Contains("physical type 2394", e.Message);
    }

    [Fact]
    public void A_schema_element_with_neither_type_nor_children_is_refused()
    {
        // was: InvalidOperationException "cannot decode schema for field" from Parquet.Net's schema decoder
        using var dir = new TempDir();
        const long Sentinel = 0x1234567;
        var marked = ParquetFooter.WithIntegers(Uncompressed(dir), new Dictionary<string, long> { ["2[1].1"] = Sentinel });
        byte[] varint = [0xCE, 0x95, 0x9A, 0x12];
        int at = marked.AsSpan().IndexOf(varint);
        Assert.Equal(0x15, marked[at - 1]); // field 1 (type), an i32
        marked[at - 1] = 0xF5;              // now field 16, unknown (skipped), and so are the fields after it by delta
        var e = Refused(dir, marked);
        Assert.Contains("neither a physical type nor children", e.Message);
    }

    [Fact]
    public void A_footer_declaring_more_rows_than_its_chunks_hold_is_refused_at_open()
    {
        // was: 11 s spent ordering 10^7 declared rows of a 6-row file before the read failed
        using var dir = new TempDir();
        var bytes = ParquetFooter.WithIntegers(Uncompressed(dir), new Dictionary<string, long> { ["3"] = 10_000_000, ["4[0].3"] = 10_000_000 });
        string path = dir.File("rows.parquet");
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<DataException>(() => ParquetTextSource.Open([path], "text"));
        Assert.Contains(path, e.Message);
        Assert.Contains("declares 10,000,000 rows but 6 values in column 'text'", e.Message);
    }

    [Fact]
    public async Task A_damaged_page_is_skipped_and_counted_under_the_skip_policy()
    {
        using var dir = new TempDir();
        var bytes = Uncompressed(dir);
        int alpha = bytes.AsSpan().IndexOf("alpha"u8);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(alpha - 4), 1000);
        string path = dir.File("skip.parquet");
        File.WriteAllBytes(path, bytes);
        var log = new BadDataLog(BadDataAction.Skip);
        using var source = ParquetTextSource.Open([path], "text", badData: log);
        Assert.Null(await source.TryReadRowGroupAsync(0, 0));
        Assert.Equal(1, log.SkippedRowGroups);
    }
}
