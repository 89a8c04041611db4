namespace Pretrain.Cli;

/// <summary>
/// The output folder of a data command, written first into a staging folder of ours beside it
/// (<c>.NAME.partial-PID</c>) and moved into place only when complete, so a signal or failure mid-way leaves the
/// --out folder as it was. <see cref="Commit"/> moves every staged file into --out (replacing same-named files) and
/// removes <c>part-*.parquet</c> files there that the new write did not produce — the rule the shard writers apply
/// to their own folder. Disposing deletes the staging folder if it is still there (it is ours: we created it).
/// </summary>
public sealed class StagedOutput : IDisposable
{
    private readonly IDisposable _owned;

    public StagedOutput(string outDir)
    {
        Final = Path.TrimEndingDirectorySeparator(Path.GetFullPath(outDir));
        if (File.Exists(Final)) throw new UsageException($"--out {outDir} is a file; give a folder.");
        Staging = Path.Combine(Path.GetDirectoryName(Final)!, $".{Path.GetFileName(Final)}.partial-{Environment.ProcessId}");
        if (Directory.Exists(Staging)) Directory.Delete(Staging, recursive: true);   // ours, from a process with this pid
        Directory.CreateDirectory(Staging);
        _owned = SignalScope.OwnTemp(Staging);
    }

    /// <summary>Where the output belongs (absolute).</summary>
    public string Final { get; }

    /// <summary>Where the command writes it meanwhile.</summary>
    public string Staging { get; }

    /// <summary>Moves the staged files into <see cref="Final"/>; returns <paramref name="written"/> mapped there.</summary>
    public IReadOnlyList<string> Commit(IEnumerable<string> written)
    {
        SignalScope.Hold("data:commit");
        SignalScope.Token.ThrowIfCancellationRequested();   // a signal before this point: nothing moves
        Directory.CreateDirectory(Final);
        var staged = Directory.EnumerateFiles(Staging, "*", SearchOption.AllDirectories).ToList();
        var names = staged.Select(f => Path.GetRelativePath(Staging, f)).ToHashSet(StringComparer.Ordinal);
        foreach (var stale in Directory.EnumerateFiles(Final, "part-*.parquet").Where(f => !names.Contains(Path.GetFileName(f))))
            File.Delete(stale);
        foreach (var file in staged)
        {
            string target = Path.Combine(Final, Path.GetRelativePath(Staging, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Move(file, target, overwrite: true);
        }
        Directory.Delete(Staging, recursive: true);
        return [.. written.Select(f => Path.Combine(Final, Path.GetRelativePath(Staging, Path.GetFullPath(f))))];
    }

    /// <summary>
    /// Writes one output file the same way: <paramref name="write"/> fills <c>.NAME.partial-PID</c> beside
    /// <paramref name="path"/>, which is then renamed over it; a signal or failure before the rename leaves
    /// <paramref name="path"/> as it was.
    /// </summary>
    public static void WriteFile(string path, Action<string> write)
    {
        string final = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(final)!);
        string staging = Path.Combine(Path.GetDirectoryName(final)!, $".{Path.GetFileName(final)}.partial-{Environment.ProcessId}");
        using var owned = SignalScope.OwnTemp(staging);
        try
        {
            write(staging);
            SignalScope.Token.ThrowIfCancellationRequested();
            File.Move(staging, final, overwrite: true);
        }
        finally
        {
            File.Delete(staging);   // no-op once moved
        }
    }

    public void Dispose()
    {
        try
        {
            if (Directory.Exists(Staging)) Directory.Delete(Staging, recursive: true);
        }
        catch (IOException) { }
        _owned.Dispose();
    }
}
