using System.Net;
using System.Net.Sockets;

namespace Pretrain.Data.Tests.Sources;

/// <summary>
/// An HTTP server on 127.0.0.1 only that serves one byte array at <see cref="Url"/> with Range support (206 +
/// Content-Range), 404 elsewhere, and injected faults: the first <see cref="FailFirst"/> requests answer 503, request
/// number <see cref="ResetAt"/> is aborted mid-body (connection reset), request <see cref="StallAt"/> waits before
/// answering. It stops answering after <see cref="MaxRequests"/> requests so a retry loop cannot run away.
/// </summary>
internal sealed class LoopbackRangeServer : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly byte[] _content;
    private readonly Task _loop;
    private int _requests;
    private long _bytesServed;

    public LoopbackRangeServer(byte[] content)
    {
        _content = content;
        int port = FreePort();
        Prefix = $"http://127.0.0.1:{port}/";
        _listener.Prefixes.Add(Prefix);
        _listener.Start();
        _loop = Task.Run(LoopAsync);
    }

    public string Prefix { get; }

    public string Url => Prefix + "data.parquet";

    public int FailFirst { get; init; }

    public int ResetAt { get; init; } = -1;

    public int StallAt { get; init; } = -1;

    public TimeSpan Stall { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>Every request from this number on stalls (a server that stopped answering).</summary>
    public int StallFrom { get; init; } = int.MaxValue;

    public int MaxRequests { get; init; } = 200;

    public int Requests => Volatile.Read(ref _requests);

    /// <summary>Body bytes of successful 206/200 answers.</summary>
    public long BytesServed => Interlocked.Read(ref _bytesServed);

    private static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    private async Task LoopAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext ctx;
            try
            {
                ctx = await _listener.GetContextAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            _ = Task.Run(() => Handle(ctx));
        }
    }

    private async Task Handle(HttpListenerContext ctx)
    {
        int n = Interlocked.Increment(ref _requests);
        var response = ctx.Response;
        try
        {
            if (n > MaxRequests)
            {
                response.StatusCode = 500;
                response.Close();
                return;
            }

            if (ctx.Request.Url!.AbsolutePath != "/data.parquet")
            {
                response.StatusCode = 404;
                response.Close();
                return;
            }

            if (n <= FailFirst)
            {
                response.StatusCode = 503;
                response.Close();
                return;
            }

            if (n == StallAt || n >= StallFrom)
            {
                await Task.Delay(Stall).ConfigureAwait(false);
            }

            long from = 0, to = _content.Length - 1;
            string? range = ctx.Request.Headers["Range"];
            bool partial = range is not null && range.StartsWith("bytes=", StringComparison.Ordinal);
            if (partial)
            {
                string[] parts = range![6..].Split('-');
                from = long.Parse(parts[0]);
                to = parts[1].Length > 0 ? Math.Min(long.Parse(parts[1]), _content.Length - 1) : _content.Length - 1;
                response.StatusCode = 206;
                response.Headers["Content-Range"] = $"bytes {from}-{to}/{_content.Length}";
            }

            int count = (int)(to - from + 1);
            response.ContentLength64 = count;
            if (n == ResetAt)
            {
                await response.OutputStream.WriteAsync(_content.AsMemory((int)from, Math.Min(count, 1) )).ConfigureAwait(false);
                response.Abort();
                return;
            }

            await response.OutputStream.WriteAsync(_content.AsMemory((int)from, count)).ConfigureAwait(false);
            Interlocked.Add(ref _bytesServed, count);
            response.Close();
        }
        catch (Exception e) when (e is HttpListenerException or IOException or ObjectDisposedException)
        {
            // the client went away (e.g. after its timeout)
        }
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        _loop.Wait(TimeSpan.FromSeconds(5));
    }
}
