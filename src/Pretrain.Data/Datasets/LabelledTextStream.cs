using Pretrain.Data.Sampling;
using Pretrain.Data.Sources;
using Pretrain.Data.Text;

namespace Pretrain.Data.Datasets;

/// <summary>
/// Streams labelled text rows (one sample per row: token ids truncated to <see cref="LabelledTextOptions.MaxTokens"/>
/// and an integer label) from Parquet files, for sequence classification.
/// <para>
/// Order, sharding, holdout and the resume cursor follow <see cref="RankWalk"/>, exactly as <see cref="ImageStream"/>:
/// each epoch is a permutation from (seed, epoch) of row groups, then rows; rank r of W takes positions p ≡ r (mod W);
/// the cursor after a row is the end of its round, so resuming continues with exactly the rows not yet consumed; with
/// <see cref="LabelledTextOptions.ShuffleWindow"/> &gt; 1 the rows of that many consecutive row groups are mixed, so a
/// file sorted by label still gives mixed batches. One background producer reads a window's row groups at a time (one
/// row group for window 1; text and label) and tokenizes into a bounded queue.
/// </para>
/// <para>
/// Bad data (<see cref="LabelledTextOptions.BadData"/>): an empty or null text, a null or out-of-range label, a corrupt
/// row group or a file whose text column is mistyped fails with file, row group, row and column named, or — with skip —
/// is skipped and counted; a skipped row keeps its position, so cursors and resume stay exact.
/// </para>
/// </summary>
public sealed class LabelledTextStream : ISampleStream<LabelledText>
{
    private readonly record struct Item(LabelledText Sample, DataCursor Cursor);

    private readonly LabelledTextOptions _options;
    private readonly ITextTokenizer _tokenizer;
    private readonly ParquetTextSource _text;
    private readonly ParquetLabelColumn? _labels;   // null: unlabelled rows (label -1), e.g. SimCSE sentences
    private readonly RankWalk _walk;
    private readonly Prefetcher<Item> _queue;
    private readonly DataCursor _start;
    private readonly BadDataLog _bad;
    private bool _disposed;

    /// <exception cref="DataException">Bad options, a bad file (checked from footers), or a cursor from another seed.</exception>
    public LabelledTextStream(LabelledTextOptions options, ITextTokenizer tokenizer, DataCursor? resumeFrom = null)
    {
        Validate(options);
        _options = options;
        _tokenizer = tokenizer;
        _start = RowWalkSetup.StartCursor(options.ConfigKey, options.Seed, options.WorldSize, resumeFrom);
        Cursor = _start;
        _bad = options.BadData ?? BadDataLog.Failing;
        _text = ParquetTextSource.Open(options.Files, options.TextColumn, options.ConfigKey, badData: _bad);
        try
        {
            _labels = options.LabelColumn is null ? null : ParquetLabelColumn.Open(options.Files, options.LabelColumn, options.ConfigKey);
            _walk = new RankWalk(_text.Units, options.Files, options.Seed, options.Rank, options.WorldSize, options.Shuffle,
                options.HoldoutFraction, options.HoldoutSide, options.LabelFraction, options.ShuffleWindow);
        }
        catch
        {
            _labels?.Dispose();
            _text.Dispose();
            throw;
        }

        _queue = new Prefetcher<Item>(options.Prefetch, options.Timeout, options.ConfigKey, release: () =>
        {
            _text.Dispose();
            _labels?.Dispose();
        });
        _queue.Start(ProduceAsync);
    }

    /// <summary>Cursor after the last row returned by <see cref="TryNext"/> (the resume cursor before any).</summary>
    public DataCursor Cursor { get; private set; }

    /// <summary>Total rows in the files (all ranks, held-out included).</summary>
    public long TotalRows => _text.TotalRows;

    /// <summary>Next row, or false when MaxEpochs is reached. A producer failure is rethrown here. Call from one thread.</summary>
    public bool TryNext(out LabelledText sample, out DataCursor cursorAfter)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_queue.TryTake(out var item))
        {
            sample = item.Sample;
            cursorAfter = item.Cursor;
            Cursor = item.Cursor;
            return true;
        }

        sample = null!;
        cursorAfter = Cursor;
        return false;
    }

    /// <summary>Stops the producer, waits for it to end, then closes the files.</summary>
    /// <exception cref="DataException">The producer did not stop within data.timeout_s (a read deaf to cancellation); the
    /// message names the file and row group. The files are closed when that read returns, never underneath it.</exception>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _queue.Dispose();   // closes _text and _labels once the producer has ended
    }

    private async Task ProduceAsync(CancellationToken ct)
    {
        var o = _options;
        int epoch = _start.Epoch;
        long start = _start.SampleInEpoch;
        while (o.MaxEpochs is not int max || epoch < max)
        {
            var order = _walk.Order(epoch);
            long limit = RankWalk.Limit(start, order.Total, o.WorldSize);
            long produced = 0;
            foreach (var window in _walk.Rows(order, start))
            {
                // The window's row groups (one unless shuffle_window > 1). A skipped row group (or row, below) yields
                // nothing but keeps its positions: the next sample's cursor passes them.
                var texts = new string?[]?[window.Units.Length];
                var labels = new long?[]?[window.Units.Length];
                for (int s = 0; s < texts.Length; s++)
                {
                    var unit = window.Units[s];
                    if (await _text.TryReadRowGroupAsync(unit.File, unit.RowGroup, ct).ConfigureAwait(false) is { } t
                        && await ReadLabelsAsync(unit, t.Length, ct).ConfigureAwait(false) is { } l)
                    {
                        (texts[s], labels[s]) = (t, l);
                    }
                }

                for (int i = 0; i < window.Rows.Length; i++)
                {
                    int slot = window.Slots[i], row = window.Rows[i];
                    long p = window.Positions[i];
                    if (texts[slot] is not { } text || Make(text[row], labels[slot]![row], window.Units[slot], row) is not { } made)
                    {
                        continue;
                    }

                    var sample = made with { Epoch = epoch, Position = p };
                    produced++;
                    var cursor = _walk.CursorAfter(epoch, start, limit, p);
                    await _queue.Writer.WriteAsync(new Item(sample, cursor), ct).ConfigureAwait(false);
                }
            }

            if (produced == 0 && start == 0 && o.MaxEpochs is null)
            {
                string side = o.HoldoutSide ? "held-out (eval)" : "training";
                throw new DataException(
                    $"{o.ConfigKey}: rank {o.Rank} of {o.WorldSize} found no {side} rows in a whole epoch of {order.Total} rows " +
                    $"(holdout_fraction {o.HoldoutFraction}). Add data or change the split.");
            }

            epoch++;
            start = 0;
        }
    }

    /// <summary>The labels of a row group; null when it is unreadable and bad data is skipped.</summary>
    private async Task<long?[]?> ReadLabelsAsync(RowGroupRef unit, int rows, CancellationToken ct)
    {
        if (_labels is null)
        {
            return Enumerable.Repeat<long?>(-1, rows).ToArray();
        }

        try
        {
            return await _labels.ReadRowGroupAsync(unit.File, unit.RowGroup, ct).ConfigureAwait(false);
        }
        catch (DataException e) when (_bad.Skips)
        {
            _bad.SkipRowGroup(_options.Files[unit.File], unit.RowGroup, e.Message);
            return null;
        }
    }

    /// <summary>One sample; null when the row is bad and bad data is skipped (counted and named in the log).</summary>
    private LabelledText? Make(string? text, long? label, RowGroupRef unit, int row)
    {
        var o = _options;
        string where = $"{o.Files[unit.File]}: row group {unit.RowGroup}, row {row}";
        if (o.LabelColumn is null)
        {
            // Unlabelled sentences: an empty row is an empty sentence (as an empty document in packed text), not bad data.
            return new LabelledText(Truncate(_tokenizer.Encode(text ?? "")), -1, unit.File, unit.RowGroup, row);
        }

        string? problem = null;
        string? fix = null;
        if (label is not { } l)
        {
            problem = $"column '{o.LabelColumn}': the label is null";
            fix = $"Label every row, or remove the row (or file) from {o.ConfigKey}.files";
        }
        else if (l < 0 || (o.NumClasses is { } k && l >= k))
        {
            string range = o.NumClasses is { } n ? $"0..{n - 1} (objective.num_classes {n})" : "≥ 0";
            problem = $"column '{o.LabelColumn}': label {l} is outside {range}";
            fix = "Fix the label, or raise objective.num_classes";
        }
        else if (string.IsNullOrEmpty(text))
        {
            problem = $"column '{o.TextColumn}': the text is {(text is null ? "null" : "empty")}";
            fix = $"Give every row a text, or remove the row (or file) from {o.ConfigKey}.files";
        }

        if (problem is not null)
        {
            if (_bad.Skips)
            {
                _bad.SkipRow(o.Files[unit.File], unit.RowGroup, row, problem);
                return null;
            }

            throw new DataException($"{where}, {problem}. {fix}, or set data.on_bad_data: skip to skip and count bad rows.");
        }

        return new LabelledText(Truncate(_tokenizer.Encode(text!)), label!.Value, unit.File, unit.RowGroup, row);
    }

    private int[] Truncate(int[] ids)
    {
        if (ids.Length > _options.MaxTokens)
        {
            Array.Resize(ref ids, _options.MaxTokens);
        }

        return ids;
    }

    private static void Validate(LabelledTextOptions o)
    {
        string k = o.ConfigKey;
        RowWalkSetup.CheckSampling(k, o.WorldSize, o.Rank, o.Prefetch, o.ShuffleWindow, o.HoldoutFraction, o.LabelFraction, o.MaxEpochs);
        RowWalkSetup.Check(o.MaxTokens >= 1, $"{k}: max tokens must be at least 1 (got {o.MaxTokens}); raise train.seq_len.");
        RowWalkSetup.Check(o.NumClasses is null or >= 1, $"{k}: num_classes must be at least 1 (got {o.NumClasses}).");
        RowWalkSetup.Check(!string.IsNullOrEmpty(o.TextColumn), $"{k}.text_column is empty.");
        RowWalkSetup.Check(o.LabelColumn is null || o.LabelColumn.Length > 0, $"{k}.label_column is empty."); // null: unlabelled rows
    }

}
