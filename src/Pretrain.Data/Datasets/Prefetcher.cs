using System.Runtime.ExceptionServices;
using System.Threading.Channels;

namespace Pretrain.Data.Datasets;

/// <summary>
/// The bounded background queue every stream uses: one producer task writes items into a bounded channel, one
/// consumer takes them. A producer failure is kept and rethrown to the consumer (the same exception, every call)
/// once the queued items are drained; <see cref="Dispose"/> cancels a producer that waits on a full queue.
/// A consumer that waits longer than the timeout for the next item gets a <see cref="DataException"/> naming the
/// dataset, what the producer was last reading (see <see cref="ProducerActivity"/>) and the recipe key to raise —
/// a stuck producer (stalled network file, hung decoder) never hangs the run.
/// <para>
/// Ownership (docs/data-pipeline.md): the prefetcher owns its producer task and awaits it; the producer owns and awaits
/// every read it starts. What the producer reads (the stream's sources) is closed by <c>release</c>, which runs once,
/// only after the producer has ended: <see cref="Dispose"/> cancels, waits for the producer up to the timeout, then
/// releases. A producer that does not end within the timeout (a read deaf to cancellation) makes Dispose throw a
/// DataException naming what it was reading; its sources are then released when it ends, never underneath it.
/// </para>
/// </summary>
internal sealed class Prefetcher<T> : IDisposable
{
    private readonly Channel<T> _channel;
    private readonly CancellationTokenSource _stop = new();
    private Task _producer = Task.CompletedTask;
    private readonly ProducerActivity _activity = new();
    private readonly TimeSpan _timeout;
    private readonly string _name;
    private readonly Action? _release;
    private Exception? _error;   // set by the producer before it completes the channel
    private int _released;       // 1 once _release has run (or is running)
    private volatile bool _disposing;   // set by Dispose after it cancelled (so the producer may dispose _stop)
    private bool _disposeCalled;

    /// <summary>Default wait for one item before the consumer gives up (recipe <c>data.timeout_s</c>).</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(300);

    /// <param name="capacity">Items queued ahead of the consumer.</param>
    /// <param name="timeout">Longest wait for one item (null: <see cref="DefaultTimeout"/>; infinite disables it).</param>
    /// <param name="name">The dataset, for messages: a recipe section such as "data.train".</param>
    /// <param name="release">Closes what the producer reads (the stream's sources); run once, after the producer has ended.</param>
    public Prefetcher(int capacity, TimeSpan? timeout = null, string name = "data", Action? release = null)
    {
        _channel = Channel.CreateBounded<T>(new BoundedChannelOptions(capacity)
        {
            SingleReader = true,
            SingleWriter = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        _timeout = timeout ?? DefaultTimeout;
        _name = name;
        _release = release;
    }

    /// <summary>The longest the consumer waits for one item.</summary>
    public TimeSpan Timeout => _timeout;

    /// <summary>Where the producer writes.</summary>
    public ChannelWriter<T> Writer => _channel.Writer;

    /// <summary>Starts <paramref name="produce"/> on the thread pool; the channel completes when it returns or fails.</summary>
    public void Start(Func<CancellationToken, Task> produce) => _producer = Task.Run(async () =>
    {
        ProducerActivity.Current = _activity; // flows into every await of this producer only
        try
        {
            await produce(_stop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            // Dispose: stop quietly.
        }
        catch (Exception e)
        {
            _error = e;
        }
        finally
        {
            _channel.Writer.TryComplete();
            if (_disposing)
            {
                // Dispose gave up waiting for this producer (or is waiting now): close the sources here, now that no read runs.
                ReleaseOnce(quiet: true);
            }
        }
    });

    /// <summary>Next item, waiting for the producer; false at the end; the producer's failure is rethrown here.</summary>
    public bool TryTake(out T item)
    {
        var reader = _channel.Reader;
        while (true)
        {
            if (reader.TryRead(out item!))
                return true;
            if (!Wait(reader))
            {
                if (_error is not null)
                    ExceptionDispatchInfo.Capture(_error).Throw();
                item = default!;
                return false;
            }
        }
    }

    /// <summary>Waits for an item or the end; past the timeout, a DataException says where the producer is stuck.</summary>
    private bool Wait(ChannelReader<T> reader)
    {
        var wait = reader.WaitToReadAsync().AsTask();
        if (_timeout == System.Threading.Timeout.InfiniteTimeSpan || wait.Wait(_timeout))
        {
            return wait.GetAwaiter().GetResult();
        }

        throw new DataException(
            $"{_name}: the data producer made nothing for {_timeout.TotalSeconds:0.###} s; it was {_activity.What}. " +
            "A stalled network file or a hung reader? Check the file and the network, or raise data.timeout_s if reading " +
            "one row group legitimately takes longer.");
    }

    /// <summary>
    /// Stops the producer (also when it waits on a full queue), waits for it to end, then releases the sources.
    /// </summary>
    /// <exception cref="DataException">The producer did not end within the timeout after cancellation; the message
    /// names the dataset and what it was reading. The sources stay open until it ends.</exception>
    public void Dispose()
    {
        if (_disposeCalled)
        {
            return;
        }

        _disposeCalled = true;
        _stop.Cancel();
        _disposing = true;
        // The producer catches everything it throws (kept in _error), so waiting never throws. An infinite data timeout
        // still waits a bounded time here: Dispose must not hang.
        var wait = _timeout == System.Threading.Timeout.InfiniteTimeSpan ? DefaultTimeout : _timeout;
        if (!_producer.Wait(wait))
        {
            throw new DataException(
                $"{_name}: the data producer did not stop within {wait.TotalSeconds:0.###} s of being cancelled; it was {_activity.What}. " +
                "Its files stay open until that read returns. A stalled network file or a hung reader? Check the file and the network, " +
                "or raise data.timeout_s if reading one row group legitimately takes longer.");
        }

        ReleaseOnce(quiet: false);
    }

    /// <summary>Runs the release once, after the producer has ended.</summary>
    /// <param name="quiet">On the producer's own thread nobody could observe a failure: a source that fails to close is left to the process exit.</param>
    private void ReleaseOnce(bool quiet)
    {
        if (Interlocked.Exchange(ref _released, 1) != 0)
        {
            return;
        }

        try
        {
            _release?.Invoke();
        }
        catch (Exception) when (quiet)
        {
            // The run is already failing with the DataException Dispose threw; closing a file is best effort here.
        }
        finally
        {
            _stop.Dispose();
        }
    }
}
