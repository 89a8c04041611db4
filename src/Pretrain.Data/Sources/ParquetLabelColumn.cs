using Parquet;
using Parquet.Schema;

namespace Pretrain.Data.Sources;

/// <summary>
/// An int64 (or int32) label column across a list of Parquet files, read one row group at a time (nulls stay null).
/// Opening checks each file's schema; the last file's reader stays open (a <see cref="ParquetReaderCache"/> of one).
/// Reads come from one producer at a time; dispose only after its last read has returned.
/// </summary>
public sealed class ParquetLabelColumn : IDisposable
{
    private readonly IReadOnlyList<string> _files;
    private readonly DataField[] _fields;
    private readonly string _configKey;
    private readonly ParquetReaderCache _readers;

    private ParquetLabelColumn(IReadOnlyList<string> files, string column, DataField[] fields, string configKey)
    {
        _files = files;
        Column = column;
        _fields = fields;
        _configKey = configKey;
        _readers = new ParquetReaderCache(files, (path, ct) => ParquetReader.CreateAsync(path, null, ct), capacity: 1);
    }

    /// <summary>The column name.</summary>
    public string Column { get; }

    /// <summary>Checks that every file has an integer <paramref name="column"/> (footers only).</summary>
    /// <exception cref="DataException">A file lacks the column or it is not int64/int32.</exception>
    public static ParquetLabelColumn Open(IReadOnlyList<string> files, string column, string configKey)
    {
        var fields = new DataField[files.Count];
        for (int f = 0; f < files.Count; f++)
        {
            var reader = ParquetTextSource.OpenChecked(files[f], configKey); // magic, Thrift and footer checks
            var schema = reader.Schema;
            reader.DisposeAsync().AsTask().GetAwaiter().GetResult();
            var field = schema.Fields.FirstOrDefault(x => x.Name == column);
            if (field is null)
            {
                throw new DataException(
                    $"{files[f]} has no label column '{column}'; columns: {string.Join(", ", schema.Fields.Select(x => x.Name)).ReplaceLineEndings(" ")}. " +
                    $"Set {configKey}.label_column.");
            }

            if (field is not DataField { IsArray: false } d || (d.ClrType != typeof(long) && d.ClrType != typeof(int)))
            {
                throw new DataException(
                    $"{files[f]}: column '{column}' is {Inspection.ParquetInspector.TypeName(field)}, not an int64 or int32 label. " +
                    $"Set {configKey}.label_column, or write the labels as integers 0..K-1.");
            }

            fields[f] = d;
        }

        return new ParquetLabelColumn(files, column, fields, configKey);
    }

    /// <summary>The labels of one row group (null for a null value).</summary>
    /// <exception cref="DataException">The row group cannot be read; the message names file, row group and column.</exception>
    public async Task<long?[]> ReadRowGroupAsync(int file, int rowGroup, CancellationToken ct = default)
    {
        await ParquetReadHook.BeforeReadAsync(_files[file], rowGroup, ct).ConfigureAwait(false);
        try
        {
            // Parquet.Net trusts every page: the chunk is checked first (ParquetPageCheck), as for text.
            await _readers.ReadAsync(
                file,
                (reader, _) =>
                {
                    if (ParquetPageCheck.Check(_files[file], reader.Metadata!, rowGroup, _fields[file]) == PageDecoder.ParquetSharp)
                    {
                        Interlocked.Increment(ref _uncheckedReads);
                    }

                    return Task.FromResult(true);
                },
                ct).ConfigureAwait(false);
        }
        catch (InvalidDataException e)
        {
            throw new DataException(
                $"{_files[file]}: row group {rowGroup} (column '{Column}') is damaged: {e.Message}. " +
                $"Re-write the file or remove it from {_configKey}.files.", e);
        }

        try
        {
            return await _readers.ReadAsync(file, (reader, c) => ReadAsync(reader, file, rowGroup, c), ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException and not DataException)
        {
            // The cache closed the reader that failed.
            throw new DataException(
                $"{_files[file]}: row group {rowGroup} (column '{Column}') is corrupt or unreadable ({e.GetType().Name}: {e.Message}). " +
                $"Re-write the file or remove it from {_configKey}.files.", e);
        }
    }

    private int _uncheckedReads;

    /// <summary>Row groups whose label chunk the page check could not vet (e.g. DELTA_BINARY_PACKED), decoded by
    /// Parquet.Net unchecked (no ParquetSharp fallback for labels).</summary>
    public int UncheckedReads => Volatile.Read(ref _uncheckedReads);

    /// <summary>Closes the open reader (call after the last read has returned).</summary>
    public void Dispose() => _readers.Dispose();

    private async Task<long?[]> ReadAsync(ParquetReader reader, int file, int rowGroup, CancellationToken ct)
    {
        using var group = reader.OpenRowGroupReader(rowGroup);
        int rows = checked((int)group.RowCount);
        var field = _fields[file];
        var labels = new long?[rows];
        if (field.ClrType == typeof(long) && field.IsNullable)
        {
            await group.ReadAsync<long>(field, labels.AsMemory(), null, ct).ConfigureAwait(false);
        }
        else if (field.ClrType == typeof(long))
        {
            var values = new long[rows];
            await group.ReadAsync<long>(field, values.AsMemory(), null, ct).ConfigureAwait(false);
            for (int i = 0; i < rows; i++)
            {
                labels[i] = values[i];
            }
        }
        else if (field.IsNullable)
        {
            var values = new int?[rows];
            await group.ReadAsync<int>(field, values.AsMemory(), null, ct).ConfigureAwait(false);
            for (int i = 0; i < rows; i++)
            {
                labels[i] = values[i];
            }
        }
        else
        {
            var values = new int[rows];
            await group.ReadAsync<int>(field, values.AsMemory(), null, ct).ConfigureAwait(false);
            for (int i = 0; i < rows; i++)
            {
                labels[i] = values[i];
            }
        }

        return labels;
    }
}
