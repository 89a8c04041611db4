using Parquet;
using Parquet.Schema;
using Polly;
using Polly.Retry;
using Pretrain.Data.Datasets;
using Pretrain.Data.Sampling;

namespace Pretrain.Data.Sources;

/// <summary>
/// A string column (or a list<int> token-id column) across a list of Parquet files, read one row group at a time. Opening validates every file from
/// its footer alone (magic, schema, column type) and records each row group's row count, so bad input fails before
/// training starts. A few file readers stay open in a <see cref="ParquetReaderCache"/> (least recently used closed
/// first); transient I/O errors are retried. Reads come from one producer at a time; dispose only after its last read
/// has returned (a stream disposes its sources after its producer has ended, see docs/data-pipeline.md).
/// <para>
/// Bad data follows a <see cref="BadDataLog"/> (recipe <c>data.on_bad_data</c>): by default a corrupt row group or a
/// column of the wrong type fails with a message naming file, row group and column; with skip, a corrupt row group
/// reads as skipped (<see cref="TryReadRowGroupAsync"/> gives null, <see cref="ReadRowGroupAsync"/> all-null rows, which
/// streams treat as empty), and a file whose column is missing or mistyped keeps its row groups in the order — so
/// every other row keeps its position — but each of them reads as skipped. Files that cannot be opened still fail.
/// </para>
/// </summary>
public sealed class ParquetTextSource : IAsyncDisposable, IDisposable
{
    private const int OpenReaders = 4;
    private static readonly byte[] Magic = "PAR1"u8.ToArray();

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
    private readonly DataField?[] _fields;       // null: the file's column is missing or mistyped (skip policy)
    private readonly string?[] _badFiles;        // why, for those files
    private readonly bool[] _unsupported;
    private readonly int[] _firstUnit; // index in Units of each file's row group 0 (Units are in file order)
    private readonly ParquetReaderCache _readers;
    private int _fallbackReads;

    private ParquetTextSource(IReadOnlyList<string> files, string column, ParquetColumnKind kind, string configKey, DataField?[] fields,
        string?[] badFiles, IReadOnlyList<RowGroupRef> units, BadDataLog badData)
    {
        _badFiles = badFiles;
        BadData = badData;
        Files = files;
        Column = column;
        Kind = kind;
        _configKey = configKey;
        _fields = fields;
        _readers = new ParquetReaderCache(files, (path, ct) => OpenReaderAsync(path, configKey, ct), OpenReaders);
        _unsupported = new bool[files.Count];
        _firstUnit = new int[files.Count];
        for (int i = units.Count - 1; i >= 0; i--)
        {
            _firstUnit[units[i].File] = i;
        }

        Units = units;
    }

    public IReadOnlyList<string> Files { get; }

    public string Column { get; }

    /// <summary>Text (read with <see cref="ReadRowGroupAsync"/>) or token ids (<see cref="ReadTokenRowGroupAsync"/>).</summary>
    public ParquetColumnKind Kind { get; }

    /// <summary>Every row group of every file, in file order, with its row count.</summary>
    public IReadOnlyList<RowGroupRef> Units { get; }

    /// <summary>Fail or skip-and-count, and the tally of what was skipped.</summary>
    public BadDataLog BadData { get; }

    /// <summary>Total rows across all files.</summary>
    public long TotalRows => Units.Sum(u => u.Rows);

    /// <summary>Validates every file (footers only) and reads row-group row counts.</summary>
    /// <param name="configKey">Recipe section named in messages, e.g. "data.train".</param>
    /// <param name="badData">Fail (null, the default) or skip and count bad row groups and mistyped files.</param>
    public static ParquetTextSource Open(IReadOnlyList<string> files, string column, string configKey = "data.train",
        ParquetColumnKind kind = ParquetColumnKind.Text, BadDataLog? badData = null) =>
        OpenAsync(files, column, configKey, kind, badData: badData).GetAwaiter().GetResult();

    /// <inheritdoc cref="Open"/>
    public static async Task<ParquetTextSource> OpenAsync(IReadOnlyList<string> files, string column, string configKey = "data.train",
        ParquetColumnKind kind = ParquetColumnKind.Text, BadDataLog? badData = null, CancellationToken cancellationToken = default)
    {
        badData ??= BadDataLog.Failing;
        if (files.Count == 0)
        {
            throw new DataException($"{configKey}.files is empty: give at least one Parquet file.");
        }

        var fields = new DataField?[files.Count];
        var badFiles = new string?[files.Count];
        DataException? firstBad = null;
        var units = new List<RowGroupRef>();
        for (int f = 0; f < files.Count; f++)
        {
            string path = files[f];
            CheckMagic(path, configKey);
            await using var reader = await OpenReaderAsync(path, configKey, cancellationToken).ConfigureAwait(false);
            try
            {
                fields[f] = kind == ParquetColumnKind.Text
                    ? FindColumn(reader.Schema, path, column, configKey)
                    : FindTokenColumn(reader.Schema, path, column, configKey);
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

        return new ParquetTextSource(files, column, kind, configKey, fields, badFiles, units, badData);
    }

    /// <summary>Reads the text column of one row group; null entries are null (or missing) values. A row group skipped
    /// under the skip policy reads as all nulls (streams count those rows as empty).</summary>
    /// <exception cref="DataException">The row group cannot be decoded (fail policy); the message names file, row group and column.</exception>
    public async Task<string?[]> ReadRowGroupAsync(int file, int rowGroup, CancellationToken cancellationToken = default) =>
        await TryReadRowGroupAsync(file, rowGroup, cancellationToken).ConfigureAwait(false) ?? new string?[RowsOf(file, rowGroup)];

    /// <summary>As <see cref="ReadRowGroupAsync"/>, but null when the row group was skipped (and counted in <see cref="BadData"/>).</summary>
    public Task<string?[]?> TryReadRowGroupAsync(int file, int rowGroup, CancellationToken cancellationToken = default)
    {
        RequireKind(ParquetColumnKind.Text);
        return ReadWithFallbackAsync(
            file,
            rowGroup,
            async (group, ct) =>
            {
                var values = new string?[group.RowCount];
                await group.ReadAsync(_fields[file]!, values.AsMemory(), null, ct).ConfigureAwait(false);
                return values;
            },
            () => ParquetSharpFallback.ReadStrings(Files[file], rowGroup, Column),
            cancellationToken);
    }

    /// <summary>Reads the token-id column of one row group: one array per row, null for a null or empty list.</summary>
    /// <exception cref="DataException">The row group cannot be decoded, holds a null id or an id outside int32;
    /// the message names file, row group and column.</exception>
    public async Task<int[]?[]> ReadTokenRowGroupAsync(int file, int rowGroup, CancellationToken cancellationToken = default) =>
        await TryReadTokenRowGroupAsync(file, rowGroup, cancellationToken).ConfigureAwait(false) ?? new int[]?[RowsOf(file, rowGroup)];

    /// <summary>As <see cref="ReadTokenRowGroupAsync"/>, but null when the row group was skipped (and counted in <see cref="BadData"/>).</summary>
    public async Task<int[]?[]?> TryReadTokenRowGroupAsync(int file, int rowGroup, CancellationToken cancellationToken = default)
    {
        RequireKind(ParquetColumnKind.TokenIds);
        if (_fields[file] is not { } field)
        {
            return SkipBadFile(file, rowGroup);
        }

        int maxDef = field.MaxDefinitionLevel;
        int slotDef = field.IsNullable ? maxDef - 1 : maxDef;
        long rows = RowsOf(file, rowGroup);
        var lists = await ReadWithFallbackAsync(
            file,
            rowGroup,
            async (group, ct) => field.ClrType == typeof(long)
                ? await ReadLevelsAsync<long>(group, field, maxDef, slotDef, ct).ConfigureAwait(false)
                : await ReadLevelsAsync<int>(group, field, maxDef, slotDef, ct).ConfigureAwait(false),
            () => ParquetSharpFallback.ReadTokenLists(Files[file], rowGroup, Column),
            cancellationToken).ConfigureAwait(false);
        if (lists is null)
        {
            return null;
        }

        try
        {
            return lists.Assemble(rows);
        }
        catch (InvalidDataException e) when (BadData.Skips)
        {
            BadData.SkipRowGroup(Files[file], rowGroup, $"column '{Column}': {e.Message}");
            return null;
        }
        catch (InvalidDataException e)
        {
            throw new DataException(
                $"{Files[file]}: row group {rowGroup}, column '{Column}': {e.Message}. Token ids must be non-null int32 values; " +
                $"re-write the column or {Remove(_configKey)}.", e);
        }
    }

    /// <summary>
    /// Parquet.Net first; when it fails on this row group (an unsupported encoding, e.g. a list column in v2 data
    /// pages), ParquetSharp reads exactly that row group. A file where Parquet.Net reported an unsupported feature
    /// goes straight to ParquetSharp afterwards. Only when both fail is the data called unreadable.
    /// </summary>
    private async Task<T?> ReadWithFallbackAsync<T>(int file, int rowGroup, Func<ParquetRowGroupReader, CancellationToken, Task<T>> primary,
        Func<T> fallback, CancellationToken cancellationToken)
        where T : class
    {
        string path = Files[file];
        if (_badFiles[file] is not null)
        {
            return SkipBadFile(file, rowGroup) as T;
        }

        ProducerActivity.Report($"reading {path}, row group {rowGroup}, column '{Column}'");
        await ParquetReadHook.BeforeReadAsync(path, rowGroup, cancellationToken).ConfigureAwait(false);
        Exception? first = null;
        bool known = _unsupported[file];
        if (!known && _fields[file] is { } field)
        {
            // Parquet.Net trusts every page; ours are checked first, and what the check cannot vet goes to ParquetSharp.
            try
            {
                known = await _readers.ReadAsync(
                    file,
                    (reader, _) => Task.FromResult(CheckPages(path, reader, rowGroup, field) == PageDecoder.ParquetSharp),
                    cancellationToken).ConfigureAwait(false);

                // ParquetSharp opens local files only: an http(s) chunk the check cannot vet is decoded by Parquet.Net
                // unchecked, as before the check (counted).
                if (known && ByteSource.IsUrl(path))
                {
                    known = false;
                    Interlocked.Increment(ref _uncheckedReads);
                }
            }
            catch (InvalidDataException e) when (BadData.Skips)
            {
                BadData.SkipRowGroup(path, rowGroup, $"column '{Column}' is damaged ({e.Message})");
                return null;
            }
            catch (InvalidDataException e)
            {
                throw new DataException(
                    $"{path}: row group {rowGroup} (column '{Column}') is damaged: {e.Message}. " +
                    $"Re-write the file or {Remove(_configKey)}; or set data.on_bad_data: skip to skip and count it.", e);
            }
        }

        if (!known)
        {
            try
            {
                return await _readers.ReadAsync(
                    file,
                    async (reader, ct) =>
                    {
                        using var group = reader.OpenRowGroupReader(rowGroup);
                        return await Retry.ExecuteAsync(async c => await primary(group, c).ConfigureAwait(false), ct).ConfigureAwait(false);
                    },
                    cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException and not DataException)
            {
                // The cache closed the reader that failed; the next read of this file opens a fresh one.
                first = e;
                _unsupported[file] = e is NotImplementedException or NotSupportedException;
            }
        }

        try
        {
            cancellationToken.ThrowIfCancellationRequested();
            var result = fallback();
            if (first is not null || known)
            {
                Interlocked.Increment(ref _fallbackReads);
            }

            return result;
        }
        catch (Exception e) when (e is not OperationCanceledException and not DataException)
        {
            string reasons = (first is null
                ? $"{e.GetType().Name}: {e.Message}"
                : $"Parquet.Net: {first.GetType().Name}: {first.Message}; ParquetSharp: {e.GetType().Name}: {e.Message}")
                .ReplaceLineEndings(" "); // library messages (ParquetSharp's C++ ones) span lines; ours is one
            if (BadData.Skips)
            {
                BadData.SkipRowGroup(path, rowGroup, $"column '{Column}' is corrupt or unreadable ({reasons})");
                return null;
            }

            throw new DataException(
                $"{path}: row group {rowGroup} (column '{Column}') is corrupt or unreadable ({reasons}). " +
                $"Re-write the file or {Remove(_configKey)}; or set data.on_bad_data: skip to skip and count it.", first ?? e);
        }
    }

    /// <summary>Rows in one row group (from the footer).</summary>
    private long RowsOf(int file, int rowGroup) => Units[_firstUnit[file] + rowGroup].Rows;

    /// <summary>A row group of a file whose column failed the check at open (skip policy): counted, named once, read as nothing.</summary>
    private int[]?[]? SkipBadFile(int file, int rowGroup)
    {
        BadData.SkipRowGroup(Files[file], rowGroup, _badFiles[file]!);
        return null;
    }

    private int _uncheckedReads;

    /// <summary>Row groups of http(s) files whose pages the page check could not vet (a codec or encoding it does not
    /// check), decoded by Parquet.Net unchecked (diagnostics and tests).</summary>
    public int UncheckedReads => Volatile.Read(ref _uncheckedReads);

    /// <summary>
    /// Page-checks the chunk of <paramref name="field"/> that <paramref name="reader"/> will decode
    /// (<see cref="ParquetPageCheck"/>): a local file through its own handle, an http(s) file through the reader's
    /// block-cached range stream (the check fetches the chunk's pages, which the read then mostly finds cached).
    /// Call inside the reader cache's read, which gives the reader — and its stream — to one user at a time.
    /// </summary>
    internal static PageDecoder CheckPages(string path, ParquetReader reader, int rowGroup, DataField field) =>
        UrlStreams.TryGetValue(reader, out var stream)
            ? ParquetPageCheck.Check(stream, reader.Metadata!, rowGroup, field)
            : ParquetPageCheck.Check(path, reader.Metadata!, rowGroup, field);

    /// <summary>The range stream under each open reader of an http(s) file.</summary>
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<ParquetReader, Stream> UrlStreams = [];

    /// <summary>Row groups that Parquet.Net could not decode and ParquetSharp did (diagnostics and tests).</summary>
    public int FallbackReads => Volatile.Read(ref _fallbackReads);

    private static async Task<TokenLists> ReadLevelsAsync<TValue>(ParquetRowGroupReader group, DataField field, int maxDef, int slotDef,
        CancellationToken ct)
        where TValue : struct
    {
        var meta = group.GetMetadata(field);
        long entries = meta!.MetaData!.NumValues;
        var raw = new TValue[entries];
        int[] defs = new int[entries];
        int[] reps = new int[entries];
        await group.ReadRawAsync(field, raw.AsMemory(), defs.AsMemory(), reps.AsMemory(), ct).ConfigureAwait(false);
        int defined = defs.Count(d => d >= maxDef); // raw values are packed: defined entries only
        var values = new long[defined];
        for (int i = 0; i < defined; i++)
        {
            values[i] = ToLong(raw[i]);
        }

        return new TokenLists(values, defs, reps, maxDef, slotDef);
    }

    private static long ToLong<TValue>(TValue value) => value is long l ? l : Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture);

    private void RequireKind(ParquetColumnKind kind)
    {
        if (Kind != kind)
        {
            throw new InvalidOperationException($"column '{Column}' was opened as {Kind}, not {kind}.");
        }
    }

    /// <summary>Closes the open readers (call after the last read has returned).</summary>
    public ValueTask DisposeAsync()
    {
        _readers.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc cref="DisposeAsync"/>
    public void Dispose() => _readers.Dispose();

    /// <summary>What to do with a bad file: drop it from the recipe's list, or (outside a recipe, empty key) replace it.</summary>
    private static string Remove(string configKey) =>
        configKey.Length == 0 ? "replace it with a good copy" : $"remove it from {configKey}.files";

    /// <summary>Checks magic and opens the footer of one file; errors name the file and say what to do.</summary>
    /// <param name="configKey">Recipe section for messages; empty outside a recipe (e.g. <c>pretrain data inspect</c>).</param>
    internal static ParquetReader OpenChecked(string path, string configKey)
    {
        CheckMagic(path, configKey);
        return OpenReaderAsync(path, configKey, CancellationToken.None).GetAwaiter().GetResult();
    }

    private static async Task<ParquetReader> OpenReaderAsync(string path, string configKey, CancellationToken cancellationToken)
    {
        var reader = await OpenFooterAsync(path, configKey, cancellationToken).ConfigureAwait(false);
        try
        {
            ParquetFooterCheck.Check(path, reader.Metadata, ByteSource.IsUrl(path) ? null : new FileInfo(path).Length, Remove(configKey));
            _ = reader.Schema; // built from the footer's flat schema list; a damaged one throws ArgumentException
        }
        catch (ArgumentException e) when (e is not ArgumentOutOfRangeException)
        {
            await reader.DisposeAsync().ConfigureAwait(false);
            throw new DataException($"{path}: its schema cannot be read ({e.Message.ReplaceLineEndings(" ")}); the footer is damaged. "
                + $"Re-write the file or {Remove(configKey)}.", e);
        }
        catch
        {
            await reader.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return reader;
    }

    private static async Task<ParquetReader> OpenFooterAsync(string path, string configKey, CancellationToken cancellationToken)
    {
        try
        {
            return await Retry.ExecuteAsync(
                async ct => ByteSource.IsUrl(path)
                    ? await OpenUrlReaderAsync(path, configKey, ct).ConfigureAwait(false)
                    : await ParquetReader.CreateAsync(path, null, ct).ConfigureAwait(false),
                cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException and not DataException)
        {
            throw new DataException(
                $"{path} could not be opened as Parquet ({e.GetType().Name}: {e.Message.ReplaceLineEndings(" ")}); its footer may be damaged. " +
                $"Re-write the file or {Remove(configKey)}.", e);
        }
    }

    // --- http(s) URLs: read through IByteSource (range requests, retries) -------------------------------------

    /// <summary>Retries, backoff and timeouts for http(s) files (process-wide; default <see cref="HttpSourceOptions.Default"/>).</summary>
    public static HttpSourceOptions HttpOptions { get; set; } = HttpSourceOptions.Default;

    /// <summary>A reader over a block-cached range-request stream: only the footer and the row groups read are fetched.</summary>
    private static async Task<ParquetReader> OpenUrlReaderAsync(string url, string configKey, CancellationToken ct)
    {
        var stream = await ByteSource.OpenStreamAsync(url, HttpOptions, ct).ConfigureAwait(false);
        try
        {
            // The footer's Thrift check, as for local files (CheckMagic), on the fetched footer bytes.
            if (stream.Length >= 12 && ParquetThriftCheck.Problem(stream) is { } problem)
            {
                throw new DataException($"{url}: {problem}; the file is truncated or damaged. Copy or write it again, or {Remove(configKey)}.");
            }

            stream.Position = 0;
            var reader = await ParquetReader.CreateAsync(stream, null, leaveStreamOpen: false, ct).ConfigureAwait(false);
            UrlStreams.AddOrUpdate(reader, stream);
            return reader;
        }
        catch
        {
            await stream.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Empty files and wrong magic get a clear message before Parquet.Net sees them (URLs: Parquet.Net checks).</summary>
    private static void CheckMagic(string path, string configKey)
    {
        if (ByteSource.IsUrl(path))
        {
            return;
        }

        string fix = $"Convert it to Parquet (e.g. with DuckDB or PyArrow) or {Remove(configKey)}.";
        if (!File.Exists(path))
        {
            throw new DataException(configKey.Length == 0 ? $"{path} does not exist." : $"{path} does not exist (listed in {configKey}.files).");
        }

        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.None);
        if (stream.Length == 0)
        {
            throw new DataException($"{path} is empty (0 bytes); a partial copy or failed write? {fix}");
        }

        Span<byte> head = stackalloc byte[4], tail = stackalloc byte[4];
        if (stream.Length < 12)
        {
            throw new DataException($"{path} is not a Parquet file (only {stream.Length} bytes; bad magic). {fix}");
        }

        stream.ReadExactly(head);
        stream.Seek(-4, SeekOrigin.End);
        stream.ReadExactly(tail);
        if (tail.SequenceEqual("PARE"u8))
        {
            throw new DataException($"{path} is an encrypted Parquet file, which is not supported. {fix}");
        }

        if (head.SequenceEqual(Magic) && !tail.SequenceEqual(Magic))
        {
            throw new DataException($"{path} is truncated or damaged: it starts as Parquet but does not end with the footer "
                + $"magic 'PAR1' ({stream.Length} bytes; a partial copy or an interrupted write?). Copy or write it again, or {Remove(configKey)}.");
        }

        if (!head.SequenceEqual(Magic) || !tail.SequenceEqual(Magic))
        {
            throw new DataException($"{path} is not a Parquet file (bad magic; expected 'PAR1' at start and end). {fix}");
        }

        if (ParquetThriftCheck.Problem(path) is { } problem)
        {
            throw new DataException($"{path}: {problem}; the file is truncated or damaged. Copy or write it again, or {Remove(configKey)}.");
        }
    }

    /// <summary>list&lt;int32|int64&gt; (3-level LIST or a legacy repeated field), one level of nesting.</summary>
    private static DataField FindTokenColumn(ParquetSchema schema, string path, string column, string configKey)
    {
        var field = schema.Fields.FirstOrDefault(f => f.Name == column);
        if (field is null)
        {
            string columns = string.Join(", ", schema.Fields.Select(f => f.Name)).ReplaceLineEndings(" ");
            throw new DataException($"{path} has no column '{column}'; columns: {columns}. Set {configKey}.token_column.");
        }

        var leaf = field switch
        {
            ListField { Item: DataField item } => item,
            DataField { IsArray: true } array => array,
            _ => null,
        };
        if (leaf is null || leaf.MaxRepetitionLevel != 1 || (leaf.ClrType != typeof(int) && leaf.ClrType != typeof(long)))
        {
            string type = Inspection.ParquetInspector.TypeName(field);
            throw new DataException(
                $"{path}: column '{column}' is {type}, not list<int32> or list<int64> token ids. " +
                $"Set {configKey}.token_column to a column of pre-tokenized ids, or use text_column for raw text.");
        }

        return leaf;
    }

    private static DataField FindColumn(ParquetSchema schema, string path, string column, string configKey)
    {
        var field = schema.Fields.FirstOrDefault(f => f.Name == column);
        if (field is null)
        {
            string columns = string.Join(", ", schema.Fields.Select(f => f.Name)).ReplaceLineEndings(" ");
            throw new DataException($"{path} has no column '{column}'; columns: {columns}. Set {configKey}.text_column.");
        }

        if (field is not DataField data || data.IsArray || (data.ClrType != typeof(string) && data.ClrType != typeof(ReadOnlyMemory<char>)))
        {
            string type = field is DataField d ? (d.IsArray ? $"list<{d.ClrType.Name}>" : d.ClrType.Name) : field.SchemaType.ToString();
            throw new DataException(
                $"{path}: column '{column}' is {type}, not a string. Set {configKey}.text_column to a UTF-8 string column.");
        }

        return data;
    }
}
