namespace Pretrain.Data.Sources;

/// <summary>How <see cref="HttpRangeSource"/> retries transient faults (5xx, 429, connection errors, timeouts).</summary>
public sealed record HttpSourceOptions
{
    /// <summary>Retries after the first attempt of each request.</summary>
    public int MaxRetries { get; init; } = 5;

    /// <summary>First retry delay; doubles each retry, with jitter.</summary>
    public TimeSpan BaseDelay { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Largest delay between retries.</summary>
    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Limit on one attempt (request and body).</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Defaults: 5 retries from 0.5 s, 60 s per attempt.</summary>
    public static HttpSourceOptions Default { get; } = new();
}
