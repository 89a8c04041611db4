namespace Pretrain.Training.Checkpointing;

/// <summary>
/// Finds the checkpoint to load from what the user typed: a run folder (→ checkpoints/latest), a checkpoints folder,
/// or a step folder. Only checkpoints whose files match manifest.json are returned; *.tmp folders are never used.
/// If the newest one fails its manifest, the next-newest valid one is used and the caller gets a warning to print.
/// </summary>
public static class CheckpointLocator
{
    private const string Usage = "pass a run folder (runs/NAME), its checkpoints/ folder, or a step folder "
        + "(runs/NAME/checkpoints/step-00001000)";

    /// <summary>Resolves a run, checkpoints or step folder to a verified step folder. An explicit step folder that
    /// fails verification throws (no fallback); otherwise a failing checkpoint falls back to an older valid one.</summary>
    public static ResolvedCheckpoint Resolve(string path)
    {
        string full = Path.GetFullPath(path);
        string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(full));
        if (!Directory.Exists(full))
        {
            throw new CheckpointException(File.Exists(full)
                ? $"'{path}' is a file, not a checkpoint folder; {Usage}"
                : $"'{path}' does not exist; {Usage}");
        }
        if (CheckpointNames.TryParseStep(name, out long step))
        {
            Verify(full);
            return new ResolvedCheckpoint(full, step, []);
        }
        if (File.Exists(Path.Combine(full, CheckpointNames.Manifest)))
            return new ResolvedCheckpoint(full, VerifyStandalone(full, path), []);
        if (CheckpointNames.TryParseTmp(name, out _))
        {
            throw new CheckpointException($"'{path}' is an unfinished checkpoint (its save did not complete); "
                + "pass the run folder to use the newest complete one");
        }

        string runCheckpoints = Path.Combine(full, "checkpoints");
        string checkpointsDir = Directory.Exists(runCheckpoints) ? runCheckpoints : full;
        if (CheckpointManager.ListSteps(checkpointsDir).Count == 0)
        {
            throw new CheckpointException($"'{path}' holds no complete checkpoint (no step-NNNNNNNN folder"
                + (checkpointsDir == full ? "" : " in its checkpoints/") + $"); {Usage}, or train first with "
                + "train.checkpoint_every set");
        }
        return FromCheckpointsDir(checkpointsDir);
    }

    /// <summary>
    /// For <c>--resume auto</c>: false (and null) when the run folder has no complete checkpoint at all, so the
    /// run starts fresh; otherwise the newest valid checkpoint. Throws when checkpoints exist but none is valid,
    /// rather than silently starting over.
    /// </summary>
    public static bool TryFindLatest(string runDir, out ResolvedCheckpoint? checkpoint)
    {
        string checkpointsDir = Path.Combine(Path.GetFullPath(runDir), "checkpoints");
        if (CheckpointManager.ListSteps(checkpointsDir).Count == 0)
        {
            checkpoint = null;
            return false;
        }
        checkpoint = FromCheckpointsDir(checkpointsDir);
        return true;
    }

    /// <summary>Checks a step folder against its manifest.json; throws naming the first bad file.</summary>
    public static void Verify(string stepDir)
    {
        string full = Path.GetFullPath(stepDir);
        if (!Directory.Exists(full))
            throw new CheckpointException($"checkpoint folder '{stepDir}' does not exist; {Usage}");
        if (!CheckpointNames.TryParseStep(Path.GetFileName(Path.TrimEndingDirectorySeparator(full)), out long step))
        {
            if (File.Exists(Path.Combine(full, CheckpointNames.Manifest)))
            {
                VerifyStandalone(full, stepDir);
                return;
            }
            throw new CheckpointException($"'{stepDir}' is not a step folder (expected a name like step-00001000); {Usage}");
        }
        string? problem = CheckpointManifest.FindProblem(full, step);
        if (problem is not null)
        {
            throw new CheckpointException($"'{stepDir}' failed its manifest ({problem}); it will not be loaded. "
                + "Restore the checkpoint's files, or pass an earlier step folder or the run folder (which falls back "
                + "to the newest valid checkpoint)");
        }
    }

    /// <summary>A checkpoint folder outside a run (written by <c>pretrain import</c>): its manifest's own step is checked.</summary>
    private static long VerifyStandalone(string full, string shown)
    {
        var manifest = CheckpointManifest.TryRead(full, out string? problem);
        problem ??= CheckpointManifest.FindProblem(full, manifest!.Step);
        if (problem is not null)
        {
            throw new CheckpointException($"'{shown}' failed its manifest ({problem}); it will not be loaded. "
                + "Restore the checkpoint's files, or import the model again");
        }
        return manifest!.Step;
    }

    private static ResolvedCheckpoint FromCheckpointsDir(string checkpointsDir)
    {
        string shown = Path.GetFileName(Path.TrimEndingDirectorySeparator(checkpointsDir));
        var steps = CheckpointManager.ListSteps(checkpointsDir);
        var order = new List<(long Step, string Path)>();
        var notes = new List<string>(); // why a candidate was passed over, before we know what we fall back to

        string? latest = CheckpointManager.ReadLatest(checkpointsDir);
        if (latest is null)
        {
            notes.Add($"{shown}/latest is missing (a save was interrupted?)");
        }
        else if (!CheckpointNames.TryParseStep(latest, out long latestStep))
        {
            notes.Add($"{shown}/latest holds '{latest}', not a step folder name");
        }
        else if (steps.FindIndex(s => s.Step == latestStep) is var i and >= 0)
        {
            order.Add(steps[i]);
        }
        else
        {
            notes.Add($"{shown}/latest names {latest}, which does not exist");
        }
        order.AddRange(steps.Where(s => !order.Contains(s)).OrderByDescending(s => s.Step));

        foreach (var (step, path) in order)
        {
            string? problem = CheckpointManifest.FindProblem(path, step);
            if (problem is null)
            {
                string chosen = Path.GetFileName(path);
                var warnings = notes.Select(n => $"{n}; using {chosen} instead").ToList();
                return new ResolvedCheckpoint(path, step, warnings);
            }
            notes.Add($"{shown}/{Path.GetFileName(path)} failed its manifest ({problem})");
        }
        throw new CheckpointException($"no valid checkpoint in '{checkpointsDir}': {string.Join("; ", notes)}. "
            + "Restore the files from a backup, or start a new run in another folder (--run-dir)");
    }
}
