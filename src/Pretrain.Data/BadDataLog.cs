using System.Collections.Concurrent;

namespace Pretrain.Data;

/// <summary>
/// The bad-data policy of a run and its tally. With <see cref="BadDataAction.Fail"/> the sources and streams throw;
/// with <see cref="BadDataAction.Skip"/> they report each skipped row group or row here: it is counted every time it
/// is met (every epoch, every rank's own rows), and named in the log once — at most <see cref="PerFileLimit"/> names
/// per file and <see cref="Limit"/> in all, then one line saying the rest are counted only, so a bad file cannot
/// flood the log. Thread-safe: producers report from their own threads; the trainer drains the messages.
/// </summary>
public sealed class BadDataLog(BadDataAction action = BadDataAction.Fail, int limit = 50, int perFileLimit = 5)
{
    private readonly ConcurrentQueue<string> _messages = new();
    private readonly HashSet<string> _named = [];
    private readonly Dictionary<string, int> _namedPerFile = [];
    private long _rows;
    private long _rowGroups;
    private int _namedTotal;
    private bool _saidLimit;

    /// <summary>A fail-fast policy (nothing is ever counted).</summary>
    public static BadDataLog Failing => new();

    public BadDataAction Action { get; } = action;

    /// <summary>true: skip and count; false: throw.</summary>
    public bool Skips => Action == BadDataAction.Skip;

    /// <summary>Names logged per file before the rest of that file is counted only.</summary>
    public int PerFileLimit { get; } = perFileLimit;

    /// <summary>Names logged in all before everything else is counted only.</summary>
    public int Limit { get; } = limit;

    /// <summary>Single rows skipped (undecodable image, empty labelled text, ...), counted each time one is met.</summary>
    public long SkippedRows => Interlocked.Read(ref _rows);

    /// <summary>Whole row groups skipped (corrupt, or in a file whose column has the wrong type), counted each time one is met.</summary>
    public long SkippedRowGroups => Interlocked.Read(ref _rowGroups);

    /// <summary>Counts one skipped row group and names it (once) in the log.</summary>
    public void SkipRowGroup(string file, int rowGroup, string reason)
    {
        Interlocked.Increment(ref _rowGroups);
        Name(file, $"{file}|{rowGroup}", $"skipped {file}: row group {rowGroup}: {reason}");
    }

    /// <summary>Counts one skipped row and names it (once) in the log.</summary>
    public void SkipRow(string file, int rowGroup, int row, string reason)
    {
        Interlocked.Increment(ref _rows);
        Name(file, $"{file}|{rowGroup}|{row}", $"skipped {file}: row group {rowGroup}, row {row}: {reason}");
    }

    /// <summary>Log lines written since the last call, oldest first.</summary>
    public IReadOnlyList<string> DrainMessages()
    {
        var list = new List<string>();
        while (_messages.TryDequeue(out string? m))
        {
            list.Add(m);
        }

        return list;
    }

    /// <summary>The metrics the run logs: data_skipped_rows and data_skipped_row_groups.</summary>
    public Dictionary<string, double> Metrics() => new()
    {
        ["data_skipped_rows"] = SkippedRows,
        ["data_skipped_row_groups"] = SkippedRowGroups,
    };

    private void Name(string file, string key, string message)
    {
        lock (_named)
        {
            if (_named.Contains(key))
            {
                return;
            }

            if (_namedTotal >= Limit)
            {
                if (!_saidLimit)
                {
                    _saidLimit = true;
                    _messages.Enqueue($"bad data: {Limit} skips named; further ones are counted only (data_skipped_rows, data_skipped_row_groups).");
                }

                return;
            }

            int inFile = _namedPerFile.GetValueOrDefault(file);
            if (inFile > PerFileLimit)
            {
                return; // keys beyond the limits are not kept: a huge bad file costs no memory here
            }

            _namedPerFile[file] = inFile + 1;
            _namedTotal++;
            _named.Add(key);
            _messages.Enqueue(inFile < PerFileLimit
                ? message
                : $"bad data: {file} has more than {PerFileLimit} bad rows or row groups; the rest are counted only.");
        }
    }
}
