using System.Runtime.ExceptionServices;
using System.Threading.Channels;

namespace Pretrain.Data.Datasets;

/// <summary>
/// The bounded background queue every stream uses: one producer task writes items into a bounded channel, one
/// consumer takes them. A producer failure is kept and rethrown to the consumer (the same exception, every call)
/// once the queued items are drained; <see cref="Dispose"/> cancels a producer that waits on a full queue.
/// </summary>
internal sealed class Prefetcher<T> : IDisposable
{
    private readonly Channel<T> _channel;
    private readonly CancellationTokenSource _stop = new();
    private Task _producer = Task.CompletedTask;
    private Exception? _error;   // set by the producer before it completes the channel

    public Prefetcher(int capacity) =>
        _channel = Channel.CreateBounded<T>(new BoundedChannelOptions(capacity)
        {
            SingleReader = true,
            SingleWriter = true,
            FullMode = BoundedChannelFullMode.Wait,
        });

    /// <summary>Where the producer writes.</summary>
    public ChannelWriter<T> Writer => _channel.Writer;

    /// <summary>Starts <paramref name="produce"/> on the thread pool; the channel completes when it returns or fails.</summary>
    public void Start(Func<CancellationToken, Task> produce) => _producer = Task.Run(async () =>
    {
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
            if (!reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
            {
                if (_error is not null)
                    ExceptionDispatchInfo.Capture(_error).Throw();
                item = default!;
                return false;
            }
        }
    }

    /// <summary>Stops the producer (also when it waits on a full queue).</summary>
    public void Dispose()
    {
        _stop.Cancel();
        try
        {
            _producer.Wait(TimeSpan.FromSeconds(30));
        }
        catch (AggregateException)
        {
            // The producer records its own failures in _error; cancellation is expected here.
        }
        _stop.Dispose();
    }
}
