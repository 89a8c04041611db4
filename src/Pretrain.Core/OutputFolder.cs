using System.Globalization;
using System.Text.RegularExpressions;

namespace Pretrain.Core;

/// <summary>
/// The --out rule (docs/outputs-and-locks.md). The target may be missing, empty, or an earlier output of the same
/// kind that our manifest.json describes and that holds nothing else (replaced only with --overwrite); anything else
/// is refused before any work, and a run's step folder always is. The caller fills <see cref="Temp"/>, a hidden
/// sibling <c>.NAME.tmp-PID</c>; <see cref="Commit"/> adds manifest.json and moves it into place; disposing without
/// a commit removes it, so a failure leaves the target as it was. A hidden sibling lock <c>.NAME.lock</c> keeps one
/// writer per target for the whole time; temp folders of ours for the same target left by a killed writer are removed
/// under it. Folders we did not create are never deleted; an earlier output is removed file by file from its manifest.
/// </summary>
public sealed class OutputFolder : IDisposable
{
    private readonly FolderLock _lock;
    private readonly bool _targetExists;
    private readonly OutputManifest? _earlier;
    private bool _committed;

    private OutputFolder(string target, string kind, FolderLock folderLock, bool targetExists, OutputManifest? earlier)
    {
        Target = target;
        Kind = kind;
        _lock = folderLock;
        _targetExists = targetExists;
        _earlier = earlier;
        Temp = TempName(target, Environment.ProcessId);
        Directory.CreateDirectory(Temp);
    }

    /// <summary>The target folder's full path.</summary>
    public string Target { get; }

    /// <summary>The output kind written into manifest.json (<see cref="OutputManifest"/> constants).</summary>
    public string Kind { get; }

    /// <summary>The folder to fill; it becomes <see cref="Target"/> on <see cref="Commit"/>.</summary>
    public string Temp { get; }

    /// <summary>
    /// Checks <paramref name="target"/> against the rule, takes its lock and removes stale temp folders of ours, and
    /// creates the temp folder. <paramref name="flag"/> names the option in messages (e.g. "--out"); --overwrite is
    /// <paramref name="overwrite"/>.
    /// </summary>
    public static OutputFolder Begin(string target, string kind, bool overwrite, string flag = "--out")
    {
        string full = Path.GetFullPath(Path.TrimEndingDirectorySeparator(target));
        string name = Path.GetFileName(full);
        string parent = Path.GetDirectoryName(full) is { Length: > 0 } p && name.Length > 0 ? p
            : throw new OutputFolderException($"{flag} {target} is a file-system root; pass a folder below it.");
        if (File.Exists(full))
        {
            throw new OutputFolderException($"{flag} {full} is a file; pass a folder.");
        }

        CheckNotRunCheckpoint(full, flag);
        Directory.CreateDirectory(parent);
        var folderLock = FolderLock.Acquire(Path.Combine(parent, $".{name}.lock"), $"{flag} {full}", deleteOnRelease: true);
        try
        {
            RemoveStaleTemps(parent, name);
            bool exists = Directory.Exists(full);
            var earlier = exists ? Check(full, kind, overwrite, flag) : null;
            return new OutputFolder(full, kind, folderLock, exists, earlier);
        }
        catch
        {
            folderLock.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Writes manifest.json into <see cref="Temp"/> unless the caller wrote one of ours (a checkpoint's), then puts the
    /// output in place: renamed to the target when it is new; for an earlier output of ours, its listed files are
    /// removed and the new ones moved in; for an empty folder, the new entries are moved in (manifest.json last).
    /// </summary>
    /// <returns>The target's full path.</returns>
    public string Commit()
    {
        if (OutputManifest.TryRead(Temp) is null)
        {
            OutputManifest.Write(Temp, Kind);
        }

        if (!_targetExists)
        {
            Directory.Move(Temp, Target);
        }
        else
        {
            if (_earlier is not null)
            {
                File.Delete(Path.Combine(Target, OutputManifest.FileName));   // first, so a crash below leaves no claim on the mix
                DeleteListed(Target, _earlier.Files);
            }

            MoveEntries(Temp, Target);
            Directory.Delete(Temp);
        }

        _committed = true;
        return Target;
    }

    /// <summary>Removes the temp folder unless committed, and releases the lock.</summary>
    public void Dispose()
    {
        try
        {
            if (!_committed && Directory.Exists(Temp))
            {
                Directory.Delete(Temp, recursive: true);   // ours: created by this process under the lock
            }
        }
        finally
        {
            _lock.Dispose();
        }
    }

    /// <summary>The temp folder name of a writer with <paramref name="pid"/>: <c>.NAME.tmp-PID</c> beside the target.</summary>
    public static string TempName(string target, int pid) =>
        Path.Combine(Path.GetDirectoryName(target)!, $".{Path.GetFileName(target)}.tmp-{pid.ToString(CultureInfo.InvariantCulture)}");

    /// <summary>A run's checkpoint folder is never an output: by its name, its parent, its manifest or its trainer state.</summary>
    private static void CheckNotRunCheckpoint(string full, string flag)
    {
        bool stepName = Regex.IsMatch(Path.GetFileName(full), @"^step-[0-9]+$", RegexOptions.CultureInvariant);
        bool inCheckpoints = Path.GetFileName(Path.GetDirectoryName(full)) == "checkpoints" && stepName;
        bool looksLikeRun = Directory.Exists(full)
            && (File.Exists(Path.Combine(full, "trainer_state.json")) || File.Exists(Path.Combine(full, "optimizer.safetensors"))
                || OutputManifest.TryRead(full)?.Kind == OutputManifest.RunCheckpoint);
        if (inCheckpoints || looksLikeRun)
        {
            throw new OutputFolderException($"{flag} {full} is a checkpoint folder of a run; pretrain never writes over one. Pass a new folder.");
        }
    }

    /// <summary>An existing target: empty, or an earlier output of this kind with nothing else in it (and --overwrite).</summary>
    private static OutputManifest? Check(string full, string kind, bool overwrite, string flag)
    {
        if (!Directory.EnumerateFileSystemEntries(full).Any())
        {
            return null;
        }

        var earlier = OutputManifest.TryRead(full)
            ?? throw new OutputFolderException($"{flag} {full} is not empty and was not written by pretrain (it has no manifest.json of ours); "
                + "pass a new or empty folder. Nothing was changed.");
        if (earlier.Kind != kind)
        {
            throw new OutputFolderException($"{flag} {full} holds a pretrain {earlier.Kind}, not a {kind}; pass another folder. Nothing was changed.");
        }

        if (!overwrite)
        {
            throw new OutputFolderException($"{flag} {full} holds an earlier {kind} of pretrain; pass --overwrite to replace it, or another folder.");
        }

        var foreign = earlier.Foreign(full);
        var emptyDirs = Directory.EnumerateDirectories(full, "*", SearchOption.AllDirectories).Where(d => !Directory.EnumerateFileSystemEntries(d).Any());
        string? first = foreign.Count > 0 ? foreign[0] : emptyDirs.Select(d => Path.GetRelativePath(full, d) + "/").FirstOrDefault();
        if (first is not null)
        {
            throw new OutputFolderException($"{flag} {full} holds {first}, which the earlier {kind} did not write; --overwrite replaces only "
                + "what manifest.json lists. Move it away or pass another folder. Nothing was changed.");
        }

        return earlier;
    }

    /// <summary>Deletes the listed files, then the folders they leave empty (never a folder with anything else in it).</summary>
    private static void DeleteListed(string root, IReadOnlyList<string> files)
    {
        var dirs = new HashSet<string>(StringComparer.Ordinal);
        foreach (string relative in files)
        {
            string path = Path.Combine(root, relative);
            File.Delete(path);
            for (string? d = Path.GetDirectoryName(path); d is not null && d.Length > root.Length; d = Path.GetDirectoryName(d))
            {
                dirs.Add(d);
            }
        }

        foreach (string dir in dirs.OrderByDescending(d => d.Length))
        {
            if (Directory.Exists(dir) && !Directory.EnumerateFileSystemEntries(dir).Any())
            {
                Directory.Delete(dir);
            }
        }
    }

    /// <summary>Moves every entry of <paramref name="from"/> into <paramref name="to"/>, manifest.json last.</summary>
    private static void MoveEntries(string from, string to)
    {
        foreach (string dir in Directory.GetDirectories(from))
        {
            Directory.Move(dir, Path.Combine(to, Path.GetFileName(dir)));
        }

        foreach (string file in Directory.GetFiles(from).OrderBy(f => Path.GetFileName(f) == OutputManifest.FileName))
        {
            File.Move(file, Path.Combine(to, Path.GetFileName(file)));
        }
    }

    /// <summary>Removes <c>.NAME.tmp-PID</c> folders beside the target: only our own name pattern, and only under the target's lock.</summary>
    private static void RemoveStaleTemps(string parent, string name)
    {
        var pattern = new Regex("^" + Regex.Escape($".{name}.tmp-") + "[0-9]{1,10}$", RegexOptions.CultureInvariant);
        foreach (string dir in Directory.EnumerateDirectories(parent))
        {
            if (pattern.IsMatch(Path.GetFileName(dir)))
            {
                Directory.Delete(dir, recursive: true);   // a killed writer's: it held this lock, we hold it now
            }
        }
    }
}
