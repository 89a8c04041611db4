using Parquet;
using Parquet.Schema;
using Polly;
using Polly.Retry;
using Pretrain.Data.Datasets;
using Pretrain.Data.Sampling;

namespace Pretrain.Data.Sources;

/// <summary>
/// An image column — a struct {bytes: binary, path: string} (Hugging Face datasets layout) or plain binary — and an
/// optional integer label column across a list of Parquet files, read one row group at a time. Opening validates every
/// file from its footer (magic, columns, types) and records row counts, so bad input fails before training starts.
/// Open readers are kept in a <see cref="ParquetReaderCache"/>. Reads come from one producer at a time; dispose only
/// after its last read has returned (a stream disposes its source after its producer has ended).
/// <para>
/// Bad data follows a <see cref="BadDataLog"/> as in <see cref="ParquetTextSource"/>: fail (default) with file, row group
/// and column named, or skip and count a corrupt row group, and the row groups of a file whose image or label column is
/// missing or mistyped (they keep their place in the order). Undecodable images are the stream's business (per row).
/// </para>
/// </summary>
public sealed class ParquetImageSource : IDisposable
{
    private const int OpenReaders = 4;

    private static readonly ResiliencePipeline Retry = new ResiliencePipelineBuilder()
        .AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle<IOException>(e => e is not FileNotFoundException and not DirectoryNotFoundException),
            MaxRetryAttempts = 3,
            Delay = TimeSpan.FromMilliseconds(100),
            BackoffType = DelayBackoffType.Exponential,
        })
        .Build();

    private readonly string _configKey;
    private readonly (DataField Bytes, DataField? Path, DataField? Label)[] _fields;
    private readonly string?[] _badFiles;   // skip policy: why a file's columns failed the check at open
    private readonly ParquetReaderCache _readers;

    private ParquetImageSource(IReadOnlyList<string> files, string imageColumn, string? labelColumn, string configKey,
        (DataField, DataField?, DataField?)[] fields, string?[] badFiles, IReadOnlyList<RowGroupRef> units, BadDataLog badData)
    {
        _badFiles = badFiles;
        BadData = badData;
        Files = files;
        ImageColumn = imageColumn;
        LabelColumn = labelColumn;
        _configKey = configKey;
        _fields = fields;
        Units = units;
        _readers = new ParquetReaderCache(files, OpenReaderAsync, OpenReaders);
    }

    public IReadOnlyList<string> Files { get; }

    public string ImageColumn { get; }

    /// <summary>null: read unlabelled.</summary>
    public string? LabelColumn { get; }

    /// <summary>Every row group of every file, in file order, with its row count.</summary>
    public IReadOnlyList<RowGroupRef> Units { get; }

    /// <summary>Fail or skip-and-count, and the tally of what was skipped.</summary>
    public BadDataLog BadData { get; }

    /// <summary>Total rows across all files.</summary>
    public long TotalRows => Units.Sum(u => u.Rows);

    /// <summary>Validates every file (footers only) and reads row-group row counts.</summary>
    /// <param name="configKey">Recipe section named in messages, e.g. "data.train".</param>
    /// <exception cref="DataException">A missing or damaged file, or a missing or mistyped column; the message names file and column.</exception>
    public static ParquetImageSource Open(IReadOnlyList<string> files, string imageColumn = "image", string? labelColumn = "label",
        string configKey = "data.train", BadDataLog? badData = null)
    {
        badData ??= BadDataLog.Failing;
        if (files.Count == 0)
        {
            throw new DataException($"{configKey}.files is empty: give at least one Parquet file.");
        }

        var fields = new (DataField, DataField?, DataField?)[files.Count];
        var badFiles = new string?[files.Count];
        DataException? firstBad = null;
        var units = new List<RowGroupRef>();
        for (int f = 0; f < files.Count; f++)
        {
            var reader = ParquetTextSource.OpenChecked(files[f], configKey);
            using var dispose = new DisposeAsync(reader);
            try
            {
                var (bytes, path) = FindImageColumn(reader.Schema, files[f], imageColumn, configKey);
                var label = labelColumn is null ? null : FindLabelColumn(reader.Schema, files[f], labelColumn, configKey);
                fields[f] = (bytes, path, label);
            }
            catch (DataException e) when (badData.Skips)
            {
                firstBad ??= e;
                badFiles[f] = e.Message;
            }

            for (int g = 0; g < reader.RowGroupCount; g++)
            {
                units.Add(new RowGroupRef(f, g, reader.Metadata!.RowGroups[g].NumRows));
            }
        }

        if (firstBad is not null && badFiles.All(b => b is not null))
        {
            throw new DataException($"Every file of {configKey}.files fails the column check, so there is nothing to skip to; the first: {firstBad.Message}", firstBad);
        }

        return new ParquetImageSource(files, imageColumn, labelColumn, configKey, fields, badFiles, units, badData);
    }

    /// <summary>Reads image bytes (and paths and labels) of one row group; a skipped one reads as all-null images.</summary>
    /// <exception cref="DataException">The row group cannot be decoded (fail policy); the message names file, row group and column.</exception>
    public async Task<ImageRowGroup> ReadRowGroupAsync(int file, int rowGroup, CancellationToken cancellationToken = default)
    {
        if (await TryReadRowGroupAsync(file, rowGroup, cancellationToken).ConfigureAwait(false) is { } group)
        {
            return group;
        }

        int rows = checked((int)Units.First(u => u.File == file && u.RowGroup == rowGroup).Rows);
        return new ImageRowGroup(new byte[]?[rows], null, LabelColumn is null ? null : new long?[rows]);
    }

    /// <summary>As <see cref="ReadRowGroupAsync"/>, but null when the row group was skipped (and counted in <see cref="BadData"/>).</summary>
    public async Task<ImageRowGroup?> TryReadRowGroupAsync(int file, int rowGroup, CancellationToken cancellationToken = default)
    {
        if (_badFiles[file] is { } why)
        {
            BadData.SkipRowGroup(Files[file], rowGroup, why);
            return null;
        }

        var (bytesField, pathField, labelField) = _fields[file];
        string column = ImageColumn;
        ProducerActivity.Report($"reading {Files[file]}, row group {rowGroup}, column '{column}'");
        await ParquetReadHook.BeforeReadAsync(Files[file], rowGroup, cancellationToken).ConfigureAwait(false);

        // Parquet.Net trusts every page: each chunk it will decode is checked first (ParquetPageCheck), as for text.
        (DataField Field, string Column)[] chunks = [(bytesField, ImageColumn), .. pathField is null ? [] : new[] { (pathField, ImageColumn) },
            .. labelField is null ? [] : new[] { (labelField, LabelColumn!) }];
        try
        {
            await _readers.ReadAsync(
                file,
                (reader, _) =>
                {
                    foreach (var (field, name) in chunks)
                    {
                        column = name;
                        if (ParquetPageCheck.Check(Files[file], reader.Metadata!, rowGroup, field) == PageDecoder.ParquetSharp)
                        {
                            Interlocked.Increment(ref _uncheckedReads);
                        }
                    }

                    return Task.FromResult(true);
                },
                cancellationToken).ConfigureAwait(false);
        }
        catch (InvalidDataException e) when (BadData.Skips)
        {
            BadData.SkipRowGroup(Files[file], rowGroup, $"column '{column}' is damaged ({e.Message})");
            return null;
        }
        catch (InvalidDataException e)
        {
            throw new DataException(
                $"{Files[file]}: row group {rowGroup} (column '{column}') is damaged: {e.Message}. " +
                $"Re-write the file or remove it from {_configKey}.files; or set data.on_bad_data: skip to skip and count it.", e);
        }

        column = ImageColumn;
        try
        {
            return await _readers.ReadAsync(
                file,
                async (reader, ct) =>
                {
                    using var group = reader.OpenRowGroupReader(rowGroup);
                    int rows = checked((int)group.RowCount);
                    var bytes = new byte[]?[rows];
                    await Retry.ExecuteAsync(async c => await group.ReadAsync(bytesField, bytes.AsMemory(), null, c).ConfigureAwait(false), ct)
                        .ConfigureAwait(false);
                    string?[]? paths = null;
                    if (pathField is not null)
                    {
                        paths = new string?[rows];
                        await group.ReadAsync(pathField, paths.AsMemory(), null, ct).ConfigureAwait(false);
                    }

                    long?[]? labels = null;
                    if (labelField is not null)
                    {
                        column = LabelColumn!;
                        labels = await ReadLabelsAsync(group, labelField, rows, ct).ConfigureAwait(false);
                    }

                    return new ImageRowGroup(bytes, paths, labels);
                },
                cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException and not DataException)
        {
            // The cache closed the reader that failed; the next read of this file opens a fresh one.
            if (BadData.Skips)
            {
                BadData.SkipRowGroup(Files[file], rowGroup, $"column '{column}' is corrupt or unreadable ({e.GetType().Name}: {e.Message})");
                return null;
            }

            throw new DataException(
                $"{Files[file]}: row group {rowGroup} (column '{column}') is corrupt or unreadable ({e.GetType().Name}: {e.Message}). " +
                $"Re-write the file or remove it from {_configKey}.files; or set data.on_bad_data: skip to skip and count it.", e);
        }
    }

    private int _uncheckedReads;

    /// <summary>
    /// Column chunks read whose pages the page check could not vet (a codec or encoding it does not check: LZ4, Brotli,
    /// DELTA_*, …), decoded by Parquet.Net unchecked: unlike text, images and labels have no ParquetSharp fallback.
    /// </summary>
    public int UncheckedReads => Volatile.Read(ref _uncheckedReads);

    /// <summary>Closes the open readers (call after the last read has returned).</summary>
    public void Dispose() => _readers.Dispose();

    private static async Task<long?[]> ReadLabelsAsync(ParquetRowGroupReader group, DataField field, int rows, CancellationToken ct)
    {
        var labels = new long?[rows];
        if (field.ClrType == typeof(long))
        {
            if (field.IsNullable)
            {
                await group.ReadAsync<long>(field, labels.AsMemory(), null, ct).ConfigureAwait(false);
            }
            else
            {
                var values = new long[rows];
                await group.ReadAsync<long>(field, values.AsMemory(), null, ct).ConfigureAwait(false);
                for (int i = 0; i < rows; i++)
                {
                    labels[i] = values[i];
                }
            }
        }
        else
        {
            var values = new int?[rows];
            if (field.IsNullable)
            {
                await group.ReadAsync<int>(field, values.AsMemory(), null, ct).ConfigureAwait(false);
            }
            else
            {
                var plain = new int[rows];
                await group.ReadAsync<int>(field, plain.AsMemory(), null, ct).ConfigureAwait(false);
                for (int i = 0; i < rows; i++)
                {
                    values[i] = plain[i];
                }
            }

            for (int i = 0; i < rows; i++)
            {
                labels[i] = values[i];
            }
        }

        return labels;
    }

    private static async Task<ParquetReader> OpenReaderAsync(string path, CancellationToken cancellationToken) =>
        await Retry.ExecuteAsync(async ct => await ParquetReader.CreateAsync(path, null, ct).ConfigureAwait(false), cancellationToken)
            .ConfigureAwait(false);

    /// <summary>Disposes an async-disposable reader at the end of a synchronous scope.</summary>
    private readonly struct DisposeAsync(ParquetReader reader) : IDisposable
    {
        public void Dispose() => reader.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    private static (DataField Bytes, DataField? Path) FindImageColumn(ParquetSchema schema, string path, string column, string configKey)
    {
        var field = schema.Fields.FirstOrDefault(f => f.Name == column);
        if (field is null)
        {
            throw new DataException(
                $"{path} has no column '{column}'; columns: {string.Join(", ", schema.Fields.Select(f => f.Name)).ReplaceLineEndings(" ")}. Set {configKey}.image_column.");
        }

        switch (field)
        {
            case StructField s when s.Fields.FirstOrDefault(f => f.Name == "bytes") is DataField { IsArray: false } b && IsBinary(b):
                var p = s.Fields.FirstOrDefault(f => f.Name == "path") as DataField;
                return (b, p is { IsArray: false } && (p.ClrType == typeof(string) || p.ClrType == typeof(ReadOnlyMemory<char>)) ? p : null);
            case DataField { IsArray: false } d when IsBinary(d):
                return (d, null);
            default:
                throw new DataException(
                    $"{path}: column '{column}' is {Inspection.ParquetInspector.TypeName(field)}, not an image: expected a struct " +
                    $"{{bytes: binary, path: string}} (Hugging Face datasets layout) or plain binary. Set {configKey}.image_column, or convert the " +
                    "images with `pretrain data prepare images`.");
        }
    }

    private static bool IsBinary(DataField field) => field.ClrType == typeof(byte[]) || field.ClrType == typeof(ReadOnlyMemory<byte>);

    private static DataField FindLabelColumn(ParquetSchema schema, string path, string column, string configKey)
    {
        var field = schema.Fields.FirstOrDefault(f => f.Name == column);
        if (field is null)
        {
            throw new DataException(
                $"{path} has no column '{column}'; columns: {string.Join(", ", schema.Fields.Select(f => f.Name)).ReplaceLineEndings(" ")}. " +
                $"Set {configKey}.label_column, or set it to null for unlabelled images.");
        }

        if (field is not DataField { IsArray: false } d || (d.ClrType != typeof(long) && d.ClrType != typeof(int)))
        {
            throw new DataException(
                $"{path}: column '{column}' is {Inspection.ParquetInspector.TypeName(field)}, not an int64 or int32 label. Set {configKey}.label_column.");
        }

        return d;
    }
}
