using System.Runtime.ExceptionServices;
using System.Threading.Channels;
using Pretrain.Data.Sampling;
using Pretrain.Data.Sources;
using Pretrain.Data.Vision;

namespace Pretrain.Data.Datasets;

/// <summary>
/// Streams decoded, transformed images (one sample per row) from Parquet image datasets.
/// <para>
/// Order and sharding follow DESIGN.md through <see cref="RankWalk"/>: each epoch is a permutation from (seed, epoch)
/// of row groups, then rows; rank r of W takes global positions p ≡ r (mod W); each epoch gives every rank the same
/// number of positions and drops the (N − start) mod W leftovers (<see cref="SamplesDropped"/>). Augmentation draws
/// from a <see cref="SampleRng"/> seeded by (seed, epoch, position, view), so a sample looks the same however it is
/// reached.
/// </para>
/// <para>
/// The cursor after a sample is the end of its round (see <see cref="RankWalk.CursorAfter"/>): ranks that consume in
/// lockstep all hold the same cursor, and resuming from it — on the same or another world size — continues with
/// exactly the positions not yet consumed. With <see cref="ImageStreamOptions.ShuffleWindow"/> &gt; 1 the rows of that
/// many consecutive row groups are mixed (see <see cref="EpochOrder"/>). One background producer reads a window's row
/// groups at a time (one row group for window 1) and decodes and augments in chunks (on <see cref="ImageStreamOptions.Workers"/> threads) into a bounded queue.
/// </para>
/// </summary>
public sealed class ImageStream : ISampleStream<ImageSample>
{
    private const int ChunkRows = 64;

    private readonly record struct Item(ImageSample Sample, DataCursor Cursor, long Skipped, long Dropped);

    private readonly ImageStreamOptions _options;
    private readonly ImageTransformOptions _transform;
    private readonly ParquetImageSource _source;
    private readonly RankWalk _walk;
    private readonly Prefetcher<Item> _queue;
    private readonly DataCursor _start;
    private readonly BadDataLog _bad;
    private long _finalSkipped;
    private long _finalDropped;
    private bool _disposed;

    /// <exception cref="DataException">Bad options, a bad file (checked from footers), or a cursor from another seed.</exception>
    public ImageStream(ImageStreamOptions options, DataCursor? resumeFrom = null)
    {
        Validate(options);
        _options = options;
        _transform = options.Augment ? options.Transform : options.Transform.ForEval();
        _start = RowWalkSetup.StartCursor(options.ConfigKey, options.Seed, options.WorldSize, resumeFrom);
        Cursor = _start;
        _bad = options.BadData ?? new BadDataLog(options.SkipBadImages ? BadDataAction.Skip : BadDataAction.Fail);
        _source = ParquetImageSource.Open(options.Files, options.ImageColumn, options.LabelColumn, options.ConfigKey, _bad);
        try
        {
            _walk = new RankWalk(_source.Units, options.Files, options.Seed, options.Rank, options.WorldSize, options.Shuffle,
                options.HoldoutFraction, options.HoldoutSide, options.LabelFraction, options.ShuffleWindow);
        }
        catch
        {
            _source.Dispose();
            throw;
        }

        _queue = new Prefetcher<Item>(options.Prefetch, options.Timeout, options.ConfigKey, release: _source.Dispose);
        _queue.Start(ProduceAsync);
    }

    /// <summary>Cursor after the last sample returned by <see cref="TryNext"/> (the resume cursor before any).</summary>
    public DataCursor Cursor { get; private set; }

    /// <summary>Samples returned so far.</summary>
    public long SamplesRead { get; private set; }

    /// <summary>Rows of this rank skipped as undecodable or unlabelled, or in a skipped row group (skip policy only).</summary>
    public long SamplesSkipped { get; private set; }

    /// <summary>Global positions dropped at the ends of the epochs finished so far (the same count on every rank).</summary>
    public long SamplesDropped { get; private set; }

    /// <summary>Total rows in the files (all ranks, held-out included).</summary>
    public long TotalRows => _source.TotalRows;

    /// <summary>
    /// Next sample, or false when MaxEpochs is reached. Blocks while the producer catches up; a producer failure is
    /// rethrown here (the same exception, every call). Call from one thread.
    /// </summary>
    public bool TryNext(out ImageSample sample, out DataCursor cursorAfter)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_queue.TryTake(out var item))
        {
            sample = item.Sample;
            cursorAfter = item.Cursor;
            Cursor = item.Cursor;
            SamplesRead++;
            SamplesSkipped = item.Skipped;
            SamplesDropped = item.Dropped;
            return true;
        }

        SamplesSkipped = _finalSkipped;
        SamplesDropped = _finalDropped;
        sample = null!;
        cursorAfter = Cursor;
        return false;
    }

    /// <summary>Stops the producer (also when it waits on a full queue), waits for it to end, then closes the files.</summary>
    /// <exception cref="DataException">The producer did not stop within data.timeout_s (a read deaf to cancellation); the
    /// message names the file and row group. The files are closed when that read returns, never underneath it.</exception>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _queue.Dispose();   // closes _source once the producer has ended
    }

    private async Task ProduceAsync(CancellationToken ct)
    {
        var o = _options;
        int epoch = _start.Epoch;
        long start = _start.SampleInEpoch;
        long skipped = 0, dropped = 0;
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = o.Workers, CancellationToken = ct };
        while (o.MaxEpochs is not int max || epoch < max)
        {
            var order = _walk.Order(epoch);
            long limit = RankWalk.Limit(start, order.Total, o.WorldSize);
            long produced = 0;
            foreach (var window in _walk.Rows(order, start))
            {
                // The window's row groups (one unless shuffle_window > 1); an unreadable one (skip policy) is null and
                // its rows keep their positions: the next sample's cursor passes them.
                var data = new ImageRowGroup?[window.Units.Length];
                for (int s = 0; s < data.Length; s++)
                {
                    data[s] = await _source.TryReadRowGroupAsync(window.Units[s].File, window.Units[s].RowGroup, ct).ConfigureAwait(false);
                }

                for (int c0 = 0; c0 < window.Rows.Length; c0 += ChunkRows)
                {
                    int n = Math.Min(ChunkRows, window.Rows.Length - c0);
                    var made = new ImageSample?[n];
                    void Make(int i)
                    {
                        int slot = window.Slots[c0 + i];
                        made[i] = data[slot] is { } d ? MakeSample(d, window.Units[slot], window.Rows[c0 + i], epoch, window.Positions[c0 + i]) : null;
                    }

                    if (o.Workers == 1 || n == 1)
                    {
                        for (int i = 0; i < n; i++)
                        {
                            Make(i);
                        }
                    }
                    else
                    {
                        try
                        {
                            Parallel.For(0, n, parallel, Make);
                        }
                        catch (AggregateException e) when (e.InnerExceptions.Count > 0)
                        {
                            ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
                        }
                    }

                    for (int i = 0; i < n; i++)
                    {
                        if (made[i] is not { } sample)
                        {
                            skipped++;
                            continue;
                        }

                        produced++;
                        long p = window.Positions[c0 + i];
                        var cursor = _walk.CursorAfter(epoch, start, limit, p);
                        await _queue.Writer.WriteAsync(new Item(sample, cursor, skipped, dropped), ct).ConfigureAwait(false);
                    }
                }
            }

            if (produced == 0 && start == 0 && o.MaxEpochs is null)
            {
                string side = o.HoldoutSide ? "held-out (eval)" : "training";
                throw new DataException(
                    $"{o.ConfigKey}: rank {o.Rank} of {o.WorldSize} found no decodable {side} images in a whole epoch of {order.Total} rows " +
                    $"(column '{o.ImageColumn}', holdout_fraction {o.HoldoutFraction}, label_fraction {o.LabelFraction}). Add data or change the split.");
            }

            dropped += (order.Total - Math.Min(start, order.Total)) % o.WorldSize;
            epoch++;
            start = 0;
        }

        _finalSkipped = skipped;
        _finalDropped = dropped;
    }

    /// <summary>Decodes and transforms one row; null when the row is bad and bad rows are skipped.</summary>
    private ImageSample? MakeSample(ImageRowGroup data, RowGroupRef unit, int row, int epoch, long position)
    {
        var o = _options;
        byte[]? bytes = data.Bytes[row];
        var planes = bytes is null ? null : ImageCodec.Decode(bytes);
        if (planes is null)
        {
            string path = data.Paths?[row] is { } p ? $" (path '{p}')" : "";
            string what = bytes is null
                ? "the image is null"
                : $"the image cannot be decoded ({bytes.Length} bytes starting {Convert.ToHexString(bytes.AsSpan(0, Math.Min(8, bytes.Length)))}; " +
                  "expected PNG, JPEG, WebP, GIF or BMP)";
            if (_bad.Skips)
            {
                _bad.SkipRow(o.Files[unit.File], unit.RowGroup, row, $"column '{o.ImageColumn}'{path}: {what}");
                return null;
            }

            string where = $"{o.Files[unit.File]}: row group {unit.RowGroup}, row {row}, column '{o.ImageColumn}'";
            throw new DataException(
                $"{where}{path}: {what}. Re-encode or remove that row, remove the file from {o.ConfigKey}.files, " +
                "or set data.on_bad_data: skip to skip and count bad rows.");
        }

        long label = -1;
        if (data.Labels is { } labels)
        {
            if (labels[row] is not { } l)
            {
                if (_bad.Skips)
                {
                    _bad.SkipRow(o.Files[unit.File], unit.RowGroup, row, $"column '{o.LabelColumn}': the label is null");
                    return null;
                }

                throw new DataException(
                    $"{o.Files[unit.File]}: row group {unit.RowGroup}, row {row}, column '{o.LabelColumn}': the label is null. " +
                    $"Label every row, set {o.ConfigKey}.label_column to null to read the images unlabelled, or set data.on_bad_data: skip.");
            }

            label = l;
        }

        var rng = SampleRng.For(o.Seed, epoch, position, 0);
        var first = ImageTransform.Apply(planes, _transform, ref rng);
        float[]? second = null;
        if (o.TwoViews)
        {
            var rng2 = SampleRng.For(o.Seed, epoch, position, 1);
            second = ImageTransform.Apply(planes, _transform, ref rng2).Data;
        }

        return new ImageSample(first.Data, first.Channels, first.Height, first.Width, label, second) { Epoch = epoch, Position = position };
    }

    private static void Validate(ImageStreamOptions o)
    {
        string k = o.ConfigKey;
        RowWalkSetup.CheckSampling(k, o.WorldSize, o.Rank, o.Prefetch, o.ShuffleWindow, o.HoldoutFraction, o.LabelFraction, o.MaxEpochs);
        RowWalkSetup.Check(o.Workers >= 1, $"{k}: workers must be at least 1 (got {o.Workers}).");
        RowWalkSetup.Check(!string.IsNullOrEmpty(o.ImageColumn), $"{k}.image_column is empty.");
        RowWalkSetup.Check(o.LabelColumn is null || o.LabelColumn.Length > 0, $"{k}.label_column is empty; set it to null for unlabelled images.");
        o.Transform.Validate(k);
    }

}
