namespace Pretrain.Data.Sources;

/// <summary>Opens the <see cref="IByteSource"/> for a path or URL: http(s):// → <see cref="HttpRangeSource"/>, else <see cref="LocalFileSource"/>.</summary>
public static class ByteSource
{
    /// <summary>True for http:// and https:// locations.</summary>
    public static bool IsUrl(string location) =>
        location.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || location.StartsWith("https://", StringComparison.OrdinalIgnoreCase);

    /// <summary>Opens <paramref name="location"/>.</summary>
    /// <exception cref="DataException">It cannot be opened; the message names it.</exception>
    public static async Task<IByteSource> OpenAsync(string location, HttpSourceOptions? httpOptions = null, CancellationToken cancellationToken = default) =>
        IsUrl(location)
            ? await HttpRangeSource.OpenAsync(location, httpOptions, cancellationToken: cancellationToken).ConfigureAwait(false)
            : new LocalFileSource(location);

    /// <summary>A seekable, block-cached stream over <paramref name="location"/> (see <see cref="ByteSourceStream"/>).</summary>
    public static async Task<Stream> OpenStreamAsync(string location, HttpSourceOptions? httpOptions = null, CancellationToken cancellationToken = default) =>
        new ByteSourceStream(await OpenAsync(location, httpOptions, cancellationToken).ConfigureAwait(false));
}
