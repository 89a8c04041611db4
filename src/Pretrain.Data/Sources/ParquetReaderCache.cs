using Parquet;

namespace Pretrain.Data.Sources;

/// <summary>
/// The open Parquet readers of one source (text, token ids, images, labels), kept between row-group reads so a file's
/// footer is parsed once, not once per row group. Safe for the threads that use it: a reader serves one read at a time
/// (<see cref="ReadAsync{T}"/> takes an idle reader of the file, or opens one, and puts it back when the read
/// returns), so two threads never share a reader's stream, and the lists are changed under one lock. At most
/// <c>capacity</c> idle readers stay open, the least recently used closed first. A read that throws (corrupt data,
/// cancellation) closes its reader instead of putting it back, so a reader in an unknown state is never reused.
/// <para>
/// Lifetime (docs/data-pipeline.md): the owner disposes the cache only after every read has returned — a stream after
/// its producer has ended. If a read is still running anyway, <see cref="Dispose"/> does not close its reader
/// underneath it: the read finishes on it and the reader is closed when it comes back. Reads started after Dispose fail
/// with <see cref="ObjectDisposedException"/>.
/// </para>
/// </summary>
internal sealed class ParquetReaderCache : IDisposable
{
    private readonly IReadOnlyList<string> _files;
    private readonly Func<string, CancellationToken, Task<ParquetReader>> _open;
    private readonly int _capacity;
    private readonly Lock _lock = new();
    private readonly LinkedList<(int File, ParquetReader Reader)> _idle = new();   // most recently used first
    private int _inUse;
    private bool _disposed;

    /// <param name="files">The source's files; reads name a file by its index here.</param>
    /// <param name="open">Opens one file's reader (with the source's retries and messages).</param>
    /// <param name="capacity">Idle readers kept open.</param>
    public ParquetReaderCache(IReadOnlyList<string> files, Func<string, CancellationToken, Task<ParquetReader>> open, int capacity = 4)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _files = files;
        _open = open;
        _capacity = capacity;
    }

    /// <summary>Readers open now, idle or in use (for tests and diagnostics).</summary>
    public int OpenReaders
    {
        get
        {
            lock (_lock)
            {
                return _idle.Count + _inUse;
            }
        }
    }

    /// <summary>Runs <paramref name="read"/> on a reader of file <paramref name="file"/> that no other read is using.</summary>
    public async Task<T> ReadAsync<T>(int file, Func<ParquetReader, CancellationToken, Task<T>> read, CancellationToken cancellationToken)
    {
        var reader = await TakeAsync(file, cancellationToken).ConfigureAwait(false);
        bool reusable = false;
        try
        {
            var result = await read(reader, cancellationToken).ConfigureAwait(false);
            reusable = true;
            return result;
        }
        finally
        {
            await ReturnAsync(file, reader, reusable).ConfigureAwait(false);
        }
    }

    /// <summary>Closes the idle readers; a reader in use is closed when its read returns.</summary>
    public void Dispose()
    {
        List<ParquetReader> close;
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            close = _idle.Select(x => x.Reader).ToList();
            _idle.Clear();
        }

        foreach (var reader in close)
        {
            reader.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    private async Task<ParquetReader> TakeAsync(int file, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            for (var node = _idle.First; node is not null; node = node.Next)
            {
                if (node.Value.File == file)
                {
                    _idle.Remove(node);
                    _inUse++;
                    return node.Value.Reader;
                }
            }

            _inUse++;   // counted while it opens, so Dispose cannot miss it
        }

        try
        {
            return await _open(_files[file], cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            lock (_lock)
            {
                _inUse--;
            }

            throw;
        }
    }

    private async Task ReturnAsync(int file, ParquetReader reader, bool reusable)
    {
        ParquetReader? close = reader;
        lock (_lock)
        {
            _inUse--;
            if (reusable && !_disposed)
            {
                _idle.AddFirst((file, reader));
                close = null;
                if (_idle.Count > _capacity)
                {
                    close = _idle.Last!.Value.Reader;
                    _idle.RemoveLast();
                }
            }
        }

        if (close is not null)
        {
            await close.DisposeAsync().ConfigureAwait(false);
        }
    }
}
