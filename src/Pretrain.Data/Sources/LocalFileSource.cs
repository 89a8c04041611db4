using Microsoft.Win32.SafeHandles;

namespace Pretrain.Data.Sources;

/// <summary>A local file read with positional reads (no shared file pointer, so concurrent reads are safe).</summary>
public sealed class LocalFileSource : IByteSource
{
    private readonly SafeFileHandle _handle;

    /// <exception cref="DataException">The file does not exist or cannot be opened.</exception>
    public LocalFileSource(string path)
    {
        Name = Path.GetFullPath(path);
        try
        {
            _handle = File.OpenHandle(Name, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DataException($"{Name} could not be opened ({e.Message}).", e);
        }

        Length = RandomAccess.GetLength(_handle);
    }

    public string Name { get; }

    public long Length { get; }

    public async ValueTask<int> ReadAtAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int n = await RandomAccess.ReadAsync(_handle, buffer[total..], offset + total, cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                break;
            }

            total += n;
        }

        return total;
    }

    public void Dispose() => _handle.Dispose();
}
