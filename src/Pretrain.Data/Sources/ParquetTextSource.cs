using Parquet;
using Parquet.Schema;
using Polly;
using Polly.Retry;
using Pretrain.Data.Sampling;

namespace Pretrain.Data.Sources;

/// <summary>
/// A string column across a list of Parquet files, read one row group at a time. Opening validates every file from
/// its footer alone (magic, schema, column type) and records each row group's row count, so bad input fails before
/// training starts. A few file readers stay open (least recently used closed first); transient I/O errors are
/// retried. Not thread-safe: one consumer (the prefetch producer) at a time.
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
    private readonly DataField[] _fields;
    private readonly LinkedList<(int File, ParquetReader Reader)> _open = new();

    private ParquetTextSource(IReadOnlyList<string> files, string column, string configKey, DataField[] fields, IReadOnlyList<RowGroupRef> units)
    {
        Files = files;
        Column = column;
        _configKey = configKey;
        _fields = fields;
        Units = units;
    }

    public IReadOnlyList<string> Files { get; }

    public string Column { get; }

    /// <summary>Every row group of every file, in file order, with its row count.</summary>
    public IReadOnlyList<RowGroupRef> Units { get; }

    /// <summary>Total rows across all files.</summary>
    public long TotalRows => Units.Sum(u => u.Rows);

    /// <summary>Validates every file (footers only) and reads row-group row counts.</summary>
    /// <param name="configKey">Recipe section named in messages, e.g. "data.train".</param>
    public static ParquetTextSource Open(IReadOnlyList<string> files, string column, string configKey = "data.train") =>
        OpenAsync(files, column, configKey).GetAwaiter().GetResult();

    /// <inheritdoc cref="Open"/>
    public static async Task<ParquetTextSource> OpenAsync(IReadOnlyList<string> files, string column, string configKey = "data.train",
        CancellationToken cancellationToken = default)
    {
        if (files.Count == 0)
        {
            throw new DataException($"{configKey}.files is empty: give at least one Parquet file.");
        }

        var fields = new DataField[files.Count];
        var units = new List<RowGroupRef>();
        for (int f = 0; f < files.Count; f++)
        {
            string path = files[f];
            CheckMagic(path, configKey);
            await using var reader = await OpenReaderAsync(path, configKey, cancellationToken).ConfigureAwait(false);
            fields[f] = FindColumn(reader.Schema, path, column, configKey);
            for (int g = 0; g < reader.RowGroupCount; g++)
            {
                units.Add(new RowGroupRef(f, g, reader.Metadata!.RowGroups[g].NumRows));
            }
        }

        return new ParquetTextSource(files, column, configKey, fields, units);
    }

    /// <summary>Reads the column of one row group; null entries are null (or missing) values.</summary>
    /// <exception cref="DataException">The row group cannot be decoded; the message names file and row group.</exception>
    public async Task<string?[]> ReadRowGroupAsync(int file, int rowGroup, CancellationToken cancellationToken = default)
    {
        string path = Files[file];
        var reader = await GetReaderAsync(file, cancellationToken).ConfigureAwait(false);
        try
        {
            var group = reader.OpenRowGroupReader(rowGroup);
            var values = new string?[group.RowCount];
            await Retry.ExecuteAsync(
                async ct => await group.ReadAsync(_fields[file], values.AsMemory(), null, ct).ConfigureAwait(false),
                cancellationToken).ConfigureAwait(false);
            return values;
        }
        catch (Exception e) when (e is not OperationCanceledException and not DataException)
        {
            Close(file);
            throw new DataException(
                $"{path}: row group {rowGroup} (column '{Column}') is corrupt or unreadable ({e.GetType().Name}: {e.Message}). " +
                $"Re-write the file or remove it from {_configKey}.files.", e);
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var (_, reader) in _open)
        {
            await reader.DisposeAsync().ConfigureAwait(false);
        }

        _open.Clear();
    }

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    private async Task<ParquetReader> GetReaderAsync(int file, CancellationToken cancellationToken)
    {
        for (var node = _open.First; node is not null; node = node.Next)
        {
            if (node.Value.File == file)
            {
                _open.Remove(node);
                _open.AddFirst(node);
                return node.Value.Reader;
            }
        }

        var reader = await OpenReaderAsync(Files[file], _configKey, cancellationToken).ConfigureAwait(false);
        _open.AddFirst((file, reader));
        if (_open.Count > OpenReaders)
        {
            await _open.Last!.Value.Reader.DisposeAsync().ConfigureAwait(false);
            _open.RemoveLast();
        }

        return reader;
    }

    private void Close(int file)
    {
        for (var node = _open.First; node is not null; node = node.Next)
        {
            if (node.Value.File == file)
            {
                _open.Remove(node);
                node.Value.Reader.DisposeAsync().AsTask().GetAwaiter().GetResult();
                return;
            }
        }
    }

    private static async Task<ParquetReader> OpenReaderAsync(string path, string configKey, CancellationToken cancellationToken)
    {
        try
        {
            return await Retry.ExecuteAsync(
                async ct => await ParquetReader.CreateAsync(path, null, ct).ConfigureAwait(false),
                cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw new DataException(
                $"{path} could not be opened as Parquet ({e.GetType().Name}: {e.Message}); its footer may be damaged. " +
                $"Re-write the file or remove it from {configKey}.files.", e);
        }
    }

    /// <summary>Empty files and wrong magic get a clear message before Parquet.Net sees them.</summary>
    private static void CheckMagic(string path, string configKey)
    {
        string fix = $"Convert it with `pretrain data prepare` or remove it from {configKey}.files.";
        if (!File.Exists(path))
        {
            throw new DataException($"{path} does not exist (listed in {configKey}.files).");
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

        if (!head.SequenceEqual(Magic) || !tail.SequenceEqual(Magic))
        {
            throw new DataException($"{path} is not a Parquet file (bad magic; expected 'PAR1' at start and end). {fix}");
        }
    }

    private static DataField FindColumn(ParquetSchema schema, string path, string column, string configKey)
    {
        var field = schema.Fields.FirstOrDefault(f => f.Name == column);
        if (field is null)
        {
            string columns = string.Join(", ", schema.Fields.Select(f => f.Name));
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
