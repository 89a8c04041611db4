namespace Pretrain.Data.Datasets;

/// <summary>
/// What a prefetch producer is doing right now ("data.train: reading a.parquet, row group 3"), so a consumer that
/// times out can say where the producer is stuck. The <see cref="Prefetcher{T}"/> installs one per producer in an
/// async-local slot; sources deep inside the producer call <see cref="Report"/> without being handed anything.
/// </summary>
internal sealed class ProducerActivity
{
    private static readonly AsyncLocal<ProducerActivity?> s_current = new();
    private volatile string _what = "starting";

    /// <summary>The activity of the producer running on this async flow (null outside a producer).</summary>
    public static ProducerActivity? Current
    {
        get => s_current.Value;
        set => s_current.Value = value;
    }

    /// <summary>The last thing reported.</summary>
    public string What => _what;

    /// <summary>Records what the producer on this flow is about to do (no-op outside a producer).</summary>
    public static void Report(string what)
    {
        if (s_current.Value is { } activity)
        {
            activity._what = what;
        }
    }
}
