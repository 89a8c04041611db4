using Parquet;
using Parquet.Schema;
using Pretrain.Data.Datasets;
using Pretrain.Data.Sampling;
using Pretrain.Data.Sources;
using Pretrain.Data.Tests.Vision;
using Pretrain.Data.Text;
using Pretrain.Data.Writing;

namespace Pretrain.Data.Tests.Datasets;

/// <summary>data.on_bad_data: each kind of bad data fails by default naming file, row group (row) and column, and with
/// skip is skipped, counted, named once in the log, and keeps its position so resume stays exact.</summary>
public sealed class BadDataTests
{
    private static readonly ByteLevelTokenizer Bytes = new(["<eos>"]);

    /// <summary>Rows "0".."29" in 3 row groups of 10; row group 1's first data page header overwritten with 0xFF.</summary>
    private static string CorruptRowGroupFile(TempDir dir)
    {
        string path = dir.File("corrupt.parquet");
        TextParquetWriter.Write(path, Enumerable.Range(0, 30).Select(i => (string?)i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToList(), 10);
        long offset;
        var reader = ParquetReader.CreateAsync(path).GetAwaiter().GetResult();
        var column = reader.Metadata!.RowGroups[1].Columns[0].MetaData!;
        offset = column.DictionaryPageOffset ?? column.DataPageOffset;
        reader.DisposeAsync().AsTask().GetAwaiter().GetResult();

        using var stream = new FileStream(path, FileMode.Open, FileAccess.Write);
        stream.Seek(offset, SeekOrigin.Begin);
        stream.Write(Enumerable.Repeat((byte)0xFF, 24).ToArray());
        return path;
    }

    private static PackedTextOptions Text(IReadOnlyList<string> files, BadDataLog? bad) => new()
    {
        Files = files,
        BlockSize = 4,
        Shuffle = false,
        MaxEpochs = 1,
        BadData = bad,
    };

    [Fact]
    public void A_corrupt_row_group_fails_naming_file_row_group_and_column_or_is_skipped_and_counted()
    {
        using var dir = new TempDir();
        string path = CorruptRowGroupFile(dir);
        using (var failing = new PackedTextStream(Text([path], null), new IdTokenizer()))
        {
            var e = Assert.Throws<DataException>(() => StreamFixture.ReadAll(failing));
            // ParquetPageCheck finds the damage before Parquet.Net decodes: the page and its byte offset are named too.
            Assert.Contains($"{path}: row group 1 (column 'text') is damaged: page 0 (at byte ", e.Message);
            Assert.Contains("data.on_bad_data: skip", e.Message);
        }

        var bad = new BadDataLog(BadDataAction.Skip);
        using var skipping = new PackedTextStream(Text([path], bad), new IdTokenizer());
        var docs = StreamFixture.Docs(StreamFixture.ReadAll(skipping).Select(i => i.Block));
        var expected = Enumerable.Range(0, 10).Concat(Enumerable.Range(20, 10)).ToList();
        Assert.Equal(expected.Take(docs.Count), docs);   // the tail shorter than a block is dropped
        Assert.True(docs.Count >= 18);
        Assert.Equal(1, bad.SkippedRowGroups);
        Assert.Equal(0, bad.SkippedRows);
        var messages = bad.DrainMessages();
        Assert.Single(messages);
        Assert.Contains($"{path}: row group 1: column 'text' is damaged (page 0 (at byte ", messages[0]);
    }

    [Fact]
    public async Task A_mistyped_column_fails_naming_file_and_column_or_its_row_groups_are_skipped()
    {
        using var dir = new TempDir();
        string good = dir.File("good.parquet");
        TextParquetWriter.Write(good, ["1", "2", "3", "4"], 2);
        string wrong = dir.File("wrong.parquet");
        var field = new DataField<long>("text");
        await using (var stream = File.Create(wrong))
        {
            await using var writer = await ParquetWriter.CreateAsync(new ParquetSchema(field), stream);
            for (int g = 0; g < 3; g++)
            {
                using var group = writer.CreateRowGroup();
                await group.WriteAsync<long>(field, new long[] { 7, 8 }.AsMemory());
            }
        }

        var e = Assert.Throws<DataException>(() => new PackedTextStream(Text([good, wrong], null), new IdTokenizer()));
        Assert.Contains($"{wrong}: column 'text' is Int64, not a string", e.Message);

        var bad = new BadDataLog(BadDataAction.Skip);
        using var skipping = new PackedTextStream(Text([good, wrong], bad) with { BlockSize = 1 }, new IdTokenizer());
        var docs = StreamFixture.Docs(StreamFixture.ReadAll(skipping).Select(i => i.Block));
        Assert.Equal([1, 2, 3, 4], docs);
        Assert.Equal(3, bad.SkippedRowGroups);
        Assert.All(bad.DrainMessages(), m => Assert.Contains(wrong, m));

        // Every file bad: nothing to skip to, so it still fails at open.
        var all = Assert.Throws<DataException>(() => ParquetTextSource.Open([wrong], "text", badData: new BadDataLog(BadDataAction.Skip)));
        Assert.Contains("Every file", all.Message);
    }

    [Fact]
    public void An_undecodable_image_fails_naming_file_row_group_row_and_column_or_is_skipped_and_counted_through_the_policy()
    {
        using var dir = new TempDir();
        var files = TestImages.WriteIdFiles(dir, new HashSet<int> { 3, 30 });
        ImageStreamOptions Options(BadDataLog? bad) => new() { Files = files, Seed = 1, MaxEpochs = 1, Shuffle = false, BadData = bad, Prefetch = 4 };
        using (var failing = new ImageStream(Options(null)))
        {
            var e = Assert.Throws<DataException>(() => { while (failing.TryNext(out _, out _)) { } });
            Assert.Contains($"{files[0]}: row group 0, row 3, column 'image'", e.Message);
            Assert.Contains("data.on_bad_data: skip", e.Message);
        }

        var bad = new BadDataLog(BadDataAction.Skip);
        using var skipping = new ImageStream(Options(bad));
        var labels = new List<long>();
        DataCursor last = DataCursor.Start(1, 1);
        while (skipping.TryNext(out var s, out var c))
        {
            labels.Add(s.Label);
            last = c;
        }

        Assert.Equal(Enumerable.Range(0, TestImages.TotalRows).Where(i => i is not 3 and not 30).Select(i => (long)i), labels);
        Assert.Equal(2, bad.SkippedRows);
        Assert.Equal(2, skipping.SamplesSkipped);
        Assert.Equal(new DataCursor(1, 0, 1, 1, []), last);
        var messages = bad.DrainMessages();
        Assert.Equal(2, messages.Count);
        Assert.Contains("row 3: column 'image'", messages[0]);
    }

    private static async Task<string> LabelledFile(TempDir dir)
    {
        string path = dir.File("labelled.parquet");
        var text = new DataField<string>("text", true);
        var label = new DataField<long>("label");
        await using var stream = File.Create(path);
        await using var writer = await ParquetWriter.CreateAsync(new ParquetSchema(text, label), stream);
        for (int g = 0; g < 3; g++)
        {
            using var group = writer.CreateRowGroup();
            // Row group 1 has an empty text (row 1) and a null text (row 3).
            string?[] texts = g == 1 ? ["x", "", "y", null] : ["a", "b", "c", "d"];
            await group.WriteAsync(text, texts);
            await group.WriteAsync<long>(label, new long[] { 0, 1, 0, 1 }.AsMemory());
        }

        return path;
    }

    [Fact]
    public async Task An_empty_labelled_text_fails_naming_the_row_or_is_skipped_keeping_its_position_for_exact_resume()
    {
        using var dir = new TempDir();
        string path = await LabelledFile(dir);
        LabelledTextOptions Options(BadDataLog? bad) => new() { Files = [path], Seed = 3, MaxEpochs = 2, NumClasses = 2, BadData = bad };
        using (var failing = new LabelledTextStream(Options(null) with { Shuffle = false }, Bytes))
        {
            var e = Assert.Throws<DataException>(() => { while (failing.TryNext(out _, out _)) { } });
            Assert.Contains($"{path}: row group 1, row 1, column 'text': the text is empty", e.Message);
        }

        var bad = new BadDataLog(BadDataAction.Skip);
        var all = new List<(string Key, DataCursor After)>();
        using (var skipping = new LabelledTextStream(Options(bad), Bytes))
        {
            while (skipping.TryNext(out var r, out var after))
                all.Add(($"{r.RowGroup}/{r.Row}/{r.Epoch}", after));
        }

        Assert.Equal(2 * 10, all.Count);                       // 12 rows, 2 bad, 2 epochs
        Assert.Equal(4, bad.SkippedRows);                      // counted each time met
        Assert.Equal(2, bad.DrainMessages().Count);            // named once each
        Assert.DoesNotContain(all, a => a.Key.StartsWith("1/1/", StringComparison.Ordinal) || a.Key.StartsWith("1/3/", StringComparison.Ordinal));

        // Resume from every cursor continues with exactly the rows not yet consumed.
        for (int k = 1; k < all.Count; k += 3)
        {
            using var resumed = new LabelledTextStream(Options(new BadDataLog(BadDataAction.Skip)), Bytes, all[k - 1].After);
            var rest = new List<string>();
            while (resumed.TryNext(out var r, out _))
                rest.Add($"{r.RowGroup}/{r.Row}/{r.Epoch}");
            Assert.Equal(all.Skip(k).Select(a => a.Key), rest);
        }
    }

    [Fact]
    public void The_log_names_each_skip_once_and_is_capped_per_file_and_in_all()
    {
        var bad = new BadDataLog(BadDataAction.Skip, limit: 8, perFileLimit: 3);
        for (int epoch = 0; epoch < 2; epoch++)
        {
            for (int row = 0; row < 100; row++)
                bad.SkipRow("a.parquet", 0, row, "empty");
            bad.SkipRowGroup("b.parquet", 2, "corrupt");
            for (int row = 0; row < 100; row++)
                bad.SkipRow("c.parquet", 1, row, "empty");
        }

        Assert.Equal(400, bad.SkippedRows);
        Assert.Equal(2, bad.SkippedRowGroups);
        var m = bad.DrainMessages();
        Assert.Equal(3, m.Count(x => x.StartsWith("skipped a.parquet", StringComparison.Ordinal)));
        Assert.Single(m, x => x.Contains("a.parquet has more than 3", StringComparison.Ordinal));
        Assert.Single(m, x => x.StartsWith("skipped b.parquet: row group 2", StringComparison.Ordinal));
        Assert.Equal(3, m.Count(x => x.StartsWith("skipped c.parquet", StringComparison.Ordinal)));   // 8 named in all, then one closing line
        Assert.Single(m, x => x.Contains("8 skips named", StringComparison.Ordinal));
        Assert.Empty(bad.DrainMessages());
    }
}
