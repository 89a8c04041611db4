namespace Pretrain.Data.Sources;

/// <summary>
/// Test seam: a delegate run at the start of every row-group read of a Parquet source (file path, row group, the
/// read's cancellation token), before a reader is taken. Tests use it to delay or block reads and so force the
/// interleavings of reads, cancellation and disposal that production timing makes rare. It lives in an async-local
/// slot, so it reaches only producers started from the flow that set it (a stream's producer inherits the flow of the
/// code that opened the stream) and never another test's streams. Null (always, outside tests): nothing runs.
/// </summary>
internal static class ParquetReadHook
{
    private static readonly AsyncLocal<Func<string, int, CancellationToken, Task>?> s_current = new();

    /// <summary>The hook of this flow, or null.</summary>
    public static Func<string, int, CancellationToken, Task>? Current
    {
        get => s_current.Value;
        set => s_current.Value = value;
    }

    /// <summary>Runs the hook, if any, for a read of <paramref name="rowGroup"/> of <paramref name="path"/>.</summary>
    public static Task BeforeReadAsync(string path, int rowGroup, CancellationToken cancellationToken) =>
        s_current.Value is { } hook ? hook(path, rowGroup, cancellationToken) : Task.CompletedTask;
}
