using System.Net;
using System.Net.Http.Headers;
using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace Pretrain.Data.Sources;

/// <summary>
/// An HTTP(S) object read with <c>Range</c> requests, so a Parquet reader fetches only the footer and the row groups
/// it reads. Each request runs in a Polly pipeline: a per-attempt timeout inside retries with exponential backoff and
/// jitter on transient faults (HTTP 5xx, 429, 408, connection errors and resets, short bodies, timeouts). Permanent
/// answers (404, 403, …) fail at once; both end in a <see cref="DataException"/> naming the URL.
/// </summary>
public sealed class HttpRangeSource : IByteSource
{
    private static readonly HttpClient SharedClient = new(new SocketsHttpHandler
    {
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        AutomaticDecompression = DecompressionMethods.None,
    })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };

    private readonly HttpClient _client;
    private readonly ResiliencePipeline _pipeline;
    private readonly HttpSourceOptions _options;
    private long _requests;
    private long _bytes;
    private long _retries;

    private HttpRangeSource(Uri url, HttpClient client, HttpSourceOptions options)
    {
        Url = url;
        _client = client;
        _options = options;
        _pipeline = new ResiliencePipelineBuilder()
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder()
                    .Handle<HttpRequestException>()
                    .Handle<IOException>()
                    .Handle<TransientHttpException>()
                    .Handle<TimeoutRejectedException>(),
                MaxRetryAttempts = Math.Max(0, options.MaxRetries),
                Delay = options.BaseDelay,
                MaxDelay = options.MaxDelay,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                OnRetry = _ =>
                {
                    Interlocked.Increment(ref _retries);
                    return default;
                },
            })
            .AddTimeout(options.RequestTimeout)
            .Build();
    }

    /// <summary>The object's URL.</summary>
    public Uri Url { get; }

    public string Name => Url.ToString();

    public long Length { get; private set; }

    /// <summary>HTTP requests sent, retries included.</summary>
    public long Requests => Interlocked.Read(ref _requests);

    /// <summary>Body bytes received by successful range reads.</summary>
    public long BytesFetched => Interlocked.Read(ref _bytes);

    /// <summary>Retries made after transient faults.</summary>
    public long Retries => Interlocked.Read(ref _retries);

    /// <summary>Opens <paramref name="url"/>: one ranged request learns the size and checks that ranges are honoured.</summary>
    /// <param name="client">Client to use (default: a shared one); its Timeout should be infinite, the pipeline times attempts.</param>
    /// <exception cref="DataException">The URL is not http(s), cannot be reached after retries, answers with an error, or ignores Range.</exception>
    public static async Task<HttpRangeSource> OpenAsync(string url, HttpSourceOptions? options = null, HttpClient? client = null,
        CancellationToken cancellationToken = default)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            throw new DataException($"'{url}' is not an http(s) URL.");
        }

        var source = new HttpRangeSource(uri, client ?? SharedClient, options ?? HttpSourceOptions.Default);
        source.Length = await source.Run(0, 0, async ct =>
        {
            using var response = await source.SendAsync(0, 0, ct).ConfigureAwait(false);
            if (response.StatusCode == HttpStatusCode.PartialContent && response.Content.Headers.ContentRange?.Length is long total)
            {
                return total;
            }

            if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable && response.Content.Headers.ContentRange?.Length == 0)
            {
                return 0L;
            }

            throw new DataException(
                $"{uri}: the server does not honour HTTP Range requests (answered {(int)response.StatusCode} without a Content-Range size). " +
                "Download the file and give its local path instead.");
        }, cancellationToken).ConfigureAwait(false);
        return source;
    }

    /// <inheritdoc cref="OpenAsync"/>
    public static HttpRangeSource Open(string url, HttpSourceOptions? options = null, HttpClient? client = null) =>
        OpenAsync(url, options, client).GetAwaiter().GetResult();

    public async ValueTask<int> ReadAtAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        if (offset >= Length || buffer.Length == 0)
        {
            return 0;
        }

        int count = (int)Math.Min(buffer.Length, Length - offset);
        long last = offset + count - 1;
        await Run(offset, last, async ct =>
        {
            using var response = await SendAsync(offset, last, ct).ConfigureAwait(false);
            bool whole = response.StatusCode == HttpStatusCode.OK && offset == 0;
            if (response.StatusCode != HttpStatusCode.PartialContent && !whole)
            {
                throw new DataException($"{Url}: asked for bytes {offset}-{last}, got HTTP {(int)response.StatusCode} without the range. " +
                    "The server does not honour Range requests; download the file and give its local path instead.");
            }

            if (response.StatusCode == HttpStatusCode.PartialContent && response.Content.Headers.ContentRange?.From is long from && from != offset)
            {
                throw new TransientHttpException($"asked for bytes from {offset}, the server sent from {from}");
            }

            await using var body = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
            int got = 0;
            while (got < count)
            {
                int n = await body.ReadAsync(buffer[got..count], ct).ConfigureAwait(false);
                if (n == 0)
                {
                    throw new TransientHttpException($"body ended after {got} of {count} bytes");
                }

                got += n;
            }

            Interlocked.Add(ref _bytes, count);
            return 0;
        }, cancellationToken).ConfigureAwait(false);
        return count;
    }

    private async Task<HttpResponseMessage> SendAsync(long from, long to, CancellationToken ct)
    {
        Interlocked.Increment(ref _requests);
        using var request = new HttpRequestMessage(HttpMethod.Get, Url);
        request.Headers.Range = new RangeHeaderValue(from, to);
        var response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
        int code = (int)response.StatusCode;
        if (code is 408 or 429 or >= 500)
        {
            response.Dispose();
            throw new TransientHttpException($"HTTP {code} {response.ReasonPhrase}");
        }

        if (code >= 400 && code != 416)
        {
            response.Dispose();
            throw new DataException($"{Url}: HTTP {code} {response.ReasonPhrase}. Check the URL and that it is readable without credentials.");
        }

        return response;
    }

    /// <summary>Runs one request through the pipeline; transient faults that outlast the retries become a DataException naming the URL.</summary>
    private async Task<T> Run<T>(long from, long to, Func<CancellationToken, ValueTask<T>> attempt, CancellationToken cancellationToken)
    {
        try
        {
            return await _pipeline.ExecuteAsync(attempt, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException or IOException or TransientHttpException or TimeoutRejectedException)
        {
            string what = e is TimeoutRejectedException ? $"timed out after {_options.RequestTimeout.TotalSeconds:0.#} s" : e.Message;
            throw new DataException(
                $"{Url}: bytes {from}-{to} could not be read after {1 + Math.Max(0, _options.MaxRetries)} attempts (last: {what}). " +
                "Check the server and the network, or copy the file locally.", e);
        }
    }

    /// <summary>The shared client is never disposed; a caller's client stays the caller's.</summary>
    public void Dispose()
    {
    }
}
