using Pretrain.Core;

namespace Pretrain.Training.Checkpointing;

/// <summary>
/// Writes checkpoints into a checkpoints/ folder crash-safely and prunes old ones. Knows nothing of models: the
/// caller's <c>write</c> fills a folder. Layout: step-00001000/ (complete, with manifest.json), step-00001000.tmp/
/// (being written), latest (text file naming the newest complete step folder).
/// Pruning keeps the newest <c>keepLast</c> checkpoints, the <c>keepBest</c> best by metric (lower is better unless
/// <c>higherIsBetter</c>; checkpoints without a metric are not ranked) and always the one <c>latest</c> names.
/// </summary>
public sealed class CheckpointManager
{
    private readonly string _dir;
    private readonly int _keepLast;
    private readonly int _keepBest;
    private readonly bool _higherIsBetter;

    public CheckpointManager(string checkpointsDir, int keepLast, int keepBest, bool higherIsBetter = false)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(keepLast, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(keepBest);
        _dir = checkpointsDir;
        _keepLast = keepLast;
        _keepBest = keepBest;
        _higherIsBetter = higherIsBetter;
    }

    /// <summary>
    /// Saves one checkpoint: step-N.tmp/ is filled by <paramref name="write"/>, hashed into manifest.json, fsynced and
    /// renamed to step-N/; then <c>latest</c> is replaced atomically and old checkpoints are pruned. If
    /// <paramref name="write"/> throws, the tmp folder is removed, nothing else changes, and the exception propagates.
    /// Saving a step that already exists replaces it (the old copy is set aside, then deleted).
    /// </summary>
    /// <returns>The full path of the complete step folder.</returns>
    public string Save(long step, Action<string> write, double? metric = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        Directory.CreateDirectory(_dir);
        string name = CheckpointNames.Step(step);
        string final = Path.Combine(_dir, name);
        string tmp = final + CheckpointNames.TmpSuffix;

        if (Directory.Exists(tmp))
            Directory.Delete(tmp, recursive: true); // a stale one from a crashed save of the same step
        Directory.CreateDirectory(tmp);
        try
        {
            write(tmp);
            CheckpointManifest.Write(tmp, step, metric, OutputManifest.RunCheckpoint);
            DurableIo.SyncDirectory(tmp);
        }
        catch
        {
            TryDelete(tmp);
            throw;
        }

        string? aside = null;
        if (Directory.Exists(final))
        {
            aside = Path.Combine(_dir, name + ".replaced" + CheckpointNames.TmpSuffix);
            if (Directory.Exists(aside))
                Directory.Delete(aside, recursive: true);
            Directory.Move(final, aside);
        }
        Directory.Move(tmp, final);
        DurableIo.SyncDirectory(_dir);
        DurableIo.ReplaceText(Path.Combine(_dir, CheckpointNames.Latest), name + "\n");
        if (aside is not null)
            TryDelete(aside);

        Prune(step);
        return Path.GetFullPath(final);
    }

    /// <summary>
    /// Writes one standalone checkpoint folder (what <c>pretrain import</c> makes: a step folder that lives outside a
    /// run) crash-safely into <paramref name="output"/>, whose rules, lock and temp folder <see cref="OutputFolder"/>
    /// owns: <paramref name="write"/> fills the temp folder, manifest.json (kind imported-checkpoint) is added and
    /// fsynced, then the folder is put in place. If <paramref name="write"/> throws, nothing of ours is left once
    /// <paramref name="output"/> is disposed.
    /// </summary>
    /// <returns>The full path of the folder.</returns>
    public static string SaveFolder(OutputFolder output, Action<string> write, long step = 0)
    {
        write(output.Temp);
        CheckpointManifest.Write(output.Temp, step, null, OutputManifest.ImportedCheckpoint);
        DurableIo.SyncDirectory(output.Temp);
        string full = output.Commit();
        DurableIo.SyncDirectory(full);
        DurableIo.SyncDirectory(Path.GetDirectoryName(full)!);
        return full;
    }

    /// <summary>
    /// Removes what a killed or failed save left in <paramref name="checkpointsDir"/>: <c>latest.tmp</c>,
    /// <c>step-N.tmp/</c>, and <c>step-N.replaced.tmp/</c> when step-N itself is complete (otherwise it may be the only
    /// copy of that step). Only our own temp names; the caller holds the run folder's lock, so no save is under way.
    /// </summary>
    public static void RemoveStaleTemps(string checkpointsDir)
    {
        if (!Directory.Exists(checkpointsDir))
            return;
        string latestTmp = Path.Combine(checkpointsDir, CheckpointNames.Latest + CheckpointNames.TmpSuffix);
        if (File.Exists(latestTmp))
            File.Delete(latestTmp);
        foreach (string path in Directory.EnumerateDirectories(checkpointsDir))
        {
            string name = Path.GetFileName(path);
            if (!CheckpointNames.TryParseTmp(name, out long step))
                continue;
            bool replaced = name.EndsWith(".replaced" + CheckpointNames.TmpSuffix, StringComparison.Ordinal);
            if (!replaced || Directory.Exists(Path.Combine(checkpointsDir, CheckpointNames.Step(step))))
                TryDelete(path);
        }
    }

    /// <summary>Complete step folders (not *.tmp), ascending by step, as full paths.</summary>
    public IReadOnlyList<string> List() => ListSteps(_dir).Select(s => s.Path).ToList();

    internal static List<(long Step, string Path)> ListSteps(string checkpointsDir)
    {
        if (!Directory.Exists(checkpointsDir))
            return [];
        var steps = new List<(long Step, string Path)>();
        foreach (string path in Directory.EnumerateDirectories(checkpointsDir))
        {
            if (CheckpointNames.TryParseStep(Path.GetFileName(path), out long step))
                steps.Add((step, Path.GetFullPath(path)));
        }
        steps.Sort((a, b) => a.Step.CompareTo(b.Step));
        return steps;
    }

    /// <summary>The folder name in <c>latest</c> (trimmed), or null if there is no readable latest file.</summary>
    internal static string? ReadLatest(string checkpointsDir)
    {
        string path = Path.Combine(checkpointsDir, CheckpointNames.Latest);
        try
        {
            return File.Exists(path) ? File.ReadAllText(path).Trim() : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    private void Prune(long savedStep)
    {
        var steps = ListSteps(_dir);
        var keep = new HashSet<long>(steps.TakeLast(_keepLast).Select(s => s.Step)) { savedStep };
        if (CheckpointNames.TryParseStep(ReadLatest(_dir) ?? "", out long latest))
            keep.Add(latest);

        var ranked = steps
            .Select(s => (s.Step, Metric: CheckpointManifest.TryRead(s.Path, out _)?.Metric))
            .Where(s => s.Metric is not null)
            .ToList();
        var best = _higherIsBetter
            ? ranked.OrderByDescending(s => s.Metric).ThenByDescending(s => s.Step)
            : ranked.OrderBy(s => s.Metric).ThenByDescending(s => s.Step);
        keep.UnionWith(best.Take(_keepBest).Select(s => s.Step));

        foreach (var (step, path) in steps)
        {
            if (!keep.Contains(step))
                TryDelete(path);
        }

        // Leftovers of crashed saves; a tmp folder of a later step than any complete one is left for its own save.
        long newest = steps.Count == 0 ? savedStep : Math.Max(savedStep, steps[^1].Step);
        foreach (string path in Directory.EnumerateDirectories(_dir))
        {
            if (CheckpointNames.TryParseTmp(Path.GetFileName(path), out long step) && step <= newest)
                TryDelete(path);
        }
    }

    // Deleting old checkpoints is housekeeping: a failure (e.g. a file held open on NFS) must not fail the save.
    private static void TryDelete(string path)
    {
        try
        {
            Directory.Delete(path, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }
}
