using Pretrain.Data.Sampling;

namespace Pretrain.Data.Datasets;

/// <summary>
/// Weighted mixing of several sample streams (e.g. 70/30), deterministic and part of the cursor.
/// <para>
/// Sample n of the mix (n counts this rank's draws; every rank draws in lockstep, so n is the same on all) comes from
/// the component whose share of [0, 1) holds u_n = frac(offset(seed) + n·(φ − 1)), the golden-ratio Weyl sequence,
/// computed exactly in 64-bit fixed point. It is a pure function of (seed, n) — no history, so resume needs only n —
/// and low-discrepancy: after N draws each component's count is within a few samples of N·weight (not the ±√N of
/// independent draws), and the components interleave evenly instead of in runs.
/// </para>
/// <para>
/// Each component keeps its own stream and cursor (its own epochs, order, rank shard and, for packed text, pending
/// tokens); the mixed cursor is <see cref="DataCursor"/> with <see cref="DataCursor.Mix"/> = (n, component cursors),
/// its epoch and position repeating the first component's. Training components are endless, so a component that
/// runs out of rows starts its own next epoch; a finite component that ends ends the mix. Mixing is per rank over each
/// component's rank shard.
/// </para>
/// </summary>
public sealed class MixedStream<T> : ISampleStream<T>
{
    private readonly ISampleStream<T>[] _streams;
    private readonly DataCursor[] _cursors;
    private readonly MixSchedule _schedule;
    private readonly long[] _taken;
    private long _position;
    private bool _disposed;

    /// <param name="weights">Positive relative weights (normalised here).</param>
    /// <param name="open">Opens component i from its cursor (null: from the start).</param>
    /// <param name="seed">Data seed: fixes the interleaving.</param>
    /// <param name="worldSize">For the start cursor of components never drawn from yet.</param>
    /// <param name="resumeFrom">A mixed cursor written by this class (null: start).</param>
    /// <param name="configKey">Recipe key named in messages, e.g. "data.train.mix".</param>
    /// <exception cref="DataException">Bad weights, or a cursor that is not a mixed cursor of as many components.</exception>
    public MixedStream(IReadOnlyList<double> weights, IReadOnlyList<Func<DataCursor?, ISampleStream<T>>> open, int seed, int worldSize,
        DataCursor? resumeFrom = null, string configKey = "data.train.mix")
    {
        if (weights.Count == 0 || weights.Count != open.Count)
        {
            throw new DataException($"{configKey}: give at least one component, each with a weight.");
        }

        if (weights.Any(w => !(w > 0) || !double.IsFinite(w)))
        {
            throw new DataException($"{configKey}: weights must be positive numbers, got [{string.Join(", ", weights)}].");
        }

        if (resumeFrom is not null && (resumeFrom.Mix is null || resumeFrom.Mix.Components.Length != weights.Count || resumeFrom.Mix.Position < 0))
        {
            throw new DataException(
                $"{configKey}: the resume cursor is not a cursor of a {weights.Count}-component mix ({resumeFrom}); the checkpoint was written " +
                "with other data settings. Resume with the run's own recipe.");
        }

        _schedule = new MixSchedule(weights, seed);
        _position = resumeFrom?.Mix!.Position ?? 0;
        _cursors = resumeFrom?.Mix!.Components.ToArray() ?? Enumerable.Range(0, weights.Count).Select(_ => DataCursor.Start(seed, worldSize)).ToArray();
        _taken = new long[weights.Count];
        _streams = new ISampleStream<T>[weights.Count];
        try
        {
            for (int i = 0; i < weights.Count; i++)
            {
                _streams[i] = open[i](resumeFrom is null ? null : _cursors[i]);
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Samples drawn so far by this rank (the mix position n).</summary>
    public long Position => _position;

    /// <summary>Samples taken from each component by this stream object (since it was opened).</summary>
    public IReadOnlyList<long> Taken => _taken;

    /// <summary>Cursor after the last sample returned (the resume cursor before any).</summary>
    public DataCursor Cursor => _cursors[0] with { PendingTokens = [], Mix = new MixCursor(_position, [.. _cursors]) };

    /// <summary>Which component each draw comes from.</summary>
    public MixSchedule Schedule => _schedule;

    public bool TryNext(out T sample, out DataCursor cursorAfter)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        int i = _schedule.ComponentAt(_position);
        if (!_streams[i].TryNext(out sample, out var after))
        {
            cursorAfter = Cursor;
            return false;
        }

        _cursors[i] = after;
        _taken[i]++;
        _position++;
        cursorAfter = Cursor;
        return true;
    }

    /// <summary>Disposes every component, even when one fails (a producer that did not stop); then rethrows the first failure.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        Exception? first = null;
        foreach (var s in _streams)
        {
            try
            {
                s?.Dispose();
            }
            catch (Exception e)
            {
                first ??= e;
            }
        }

        if (first is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(first).Throw();
        }
    }
}
