namespace Pretrain.Data.Sources;

/// <summary>
/// A read-only, seekable <see cref="Stream"/> over an <see cref="IByteSource"/> with a small block cache: a read
/// fetches the blocks it touches that are not cached, each contiguous run in one source read, and keeps the most
/// recently used blocks. A Parquet reader on it fetches the footer and the column chunks it decodes, not the file.
/// Not thread-safe (one reader per stream, as Parquet readers are).
/// </summary>
public sealed class ByteSourceStream : Stream
{
    private readonly IByteSource _source;
    private readonly bool _ownsSource;
    private readonly int _blockSize;
    private readonly int _maxBlocks;
    private readonly Dictionary<long, LinkedListNode<(long Index, byte[] Data)>> _blocks = [];
    private readonly LinkedList<(long Index, byte[] Data)> _lru = new();
    private long _position;

    /// <param name="source">The bytes.</param>
    /// <param name="blockSize">Fetch granularity (default 64 KiB).</param>
    /// <param name="cacheBytes">Bytes of blocks kept (default 8 MiB).</param>
    /// <param name="ownsSource">Dispose the source with the stream.</param>
    public ByteSourceStream(IByteSource source, int blockSize = 64 * 1024, long cacheBytes = 8L << 20, bool ownsSource = true)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(blockSize, 1);
        _source = source;
        _ownsSource = ownsSource;
        _blockSize = blockSize;
        _maxBlocks = (int)Math.Max(2, cacheBytes / blockSize);
    }

    /// <summary>The source read.</summary>
    public IByteSource Source => _source;

    public override bool CanRead => true;

    public override bool CanSeek => true;

    public override bool CanWrite => false;

    public override long Length => _source.Length;

    public override long Position
    {
        get => _position;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            _position = value;
        }
    }

    public override long Seek(long offset, SeekOrigin origin) => Position = origin switch
    {
        SeekOrigin.Begin => offset,
        SeekOrigin.Current => _position + offset,
        SeekOrigin.End => Length + offset,
        _ => throw new ArgumentOutOfRangeException(nameof(origin)),
    };

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        byte[] tmp = new byte[buffer.Length];
        int n = ReadAsync(tmp.AsMemory(), CancellationToken.None).AsTask().GetAwaiter().GetResult();
        tmp.AsSpan(0, n).CopyTo(buffer);
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        long length = Length;
        if (_position >= length || buffer.Length == 0)
        {
            return 0;
        }

        int count = (int)Math.Min(buffer.Length, length - _position);
        long first = _position / _blockSize, last = (_position + count - 1) / _blockSize;
        await FetchMissingAsync(first, last, cancellationToken).ConfigureAwait(false);
        int copied = 0;
        for (long b = first; b <= last; b++)
        {
            byte[] data = Touch(b);
            long blockStart = b * _blockSize;
            int from = (int)Math.Max(0, _position + copied - blockStart);
            int n = Math.Min(data.Length - from, count - copied);
            data.AsSpan(from, n).CopyTo(buffer.Span[copied..]);
            copied += n;
        }

        _position += copied;
        return copied;
    }

    /// <summary>Fetches each run of uncached blocks in [first, last] with one source read.</summary>
    private async Task FetchMissingAsync(long first, long last, CancellationToken ct)
    {
        long b = first;
        while (b <= last)
        {
            if (_blocks.ContainsKey(b))
            {
                b++;
                continue;
            }

            long runEnd = b;
            while (runEnd + 1 <= last && !_blocks.ContainsKey(runEnd + 1))
            {
                runEnd++;
            }

            long start = b * _blockSize;
            long end = Math.Min(Length, (runEnd + 1) * _blockSize);
            byte[] run = new byte[end - start];
            int got = 0;
            while (got < run.Length)
            {
                int n = await _source.ReadAtAsync(start + got, run.AsMemory(got), ct).ConfigureAwait(false);
                if (n == 0)
                {
                    throw new DataException($"{_source.Name}: ended at byte {start + got}, before its length {Length}; was it changed while being read?");
                }

                got += n;
            }

            for (long k = b; k <= runEnd; k++)
            {
                int off = (int)((k - b) * _blockSize);
                Add(k, run.AsSpan(off, (int)Math.Min(_blockSize, run.Length - off)).ToArray());
            }

            b = runEnd + 1;
        }
    }

    private void Add(long index, byte[] data)
    {
        var node = _lru.AddFirst((index, data));
        _blocks[index] = node;
        // Keep at least the blocks of the read in progress: evict only beyond the capacity, oldest first.
        while (_lru.Count > _maxBlocks && _lru.Last is { } oldest && oldest != node)
        {
            _blocks.Remove(oldest.Value.Index);
            _lru.RemoveLast();
        }
    }

    private byte[] Touch(long index)
    {
        if (!_blocks.TryGetValue(index, out var node))
        {
            // Evicted during this read (a read larger than the cache): fetch it again.
            FetchMissingAsync(index, index, CancellationToken.None).GetAwaiter().GetResult();
            node = _blocks[index];
        }

        _lru.Remove(node);
        _lru.AddFirst(node);
        return node.Value.Data;
    }

    public override void Flush()
    {
    }

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing && _ownsSource)
        {
            _source.Dispose();
        }

        base.Dispose(disposing);
    }
}
