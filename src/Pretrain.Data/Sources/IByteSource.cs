namespace Pretrain.Data.Sources;

/// <summary>
/// Random-access bytes of one object: a local file, an HTTP(S) URL read with range requests, and later object
/// stores. Datasets see a seekable <see cref="ByteSourceStream"/> over it, so a new store only implements this.
/// Implementations are safe for concurrent reads.
/// </summary>
public interface IByteSource : IDisposable
{
    /// <summary>Path or URL, for messages.</summary>
    string Name { get; }

    /// <summary>Size in bytes.</summary>
    long Length { get; }

    /// <summary>Reads up to <c>buffer.Length</c> bytes at <paramref name="offset"/>; fewer only at the end of the object.</summary>
    /// <exception cref="DataException">The bytes cannot be read (after retries, for remote sources); the message names the object.</exception>
    ValueTask<int> ReadAtAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken = default);
}
