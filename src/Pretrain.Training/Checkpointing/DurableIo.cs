using System.Runtime.InteropServices;

namespace Pretrain.Training.Checkpointing;

/// <summary>
/// fsync for files and folders, so a rename that publishes a checkpoint never points at data still in the page
/// cache. Folders are synced through libc (no .NET API opens a folder); on Windows that step is skipped.
/// </summary>
internal static class DurableIo
{
    private const int O_RDONLY = 0;

    /// <summary>Flushes a file's data and metadata to disk.</summary>
    public static void SyncFile(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read);
        stream.Flush(flushToDisk: true);
    }

    /// <summary>Writes a small text file durably: write, fsync, then rename over the target (atomic on POSIX).</summary>
    public static void ReplaceText(string path, string text)
    {
        string tmp = path + CheckpointNames.TmpSuffix;
        try
        {
            using (var stream = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None))
            {
                stream.Write(System.Text.Encoding.UTF8.GetBytes(text));
                stream.Flush(flushToDisk: true);
            }
            File.Move(tmp, path, overwrite: true);
        }
        catch
        {
            // e.g. a full disk: leave no latest.tmp behind (a killed process leaves one; the next run removes it)
            try { File.Delete(tmp); } catch (IOException) { }
            throw;
        }
        SyncDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
    }

    /// <summary>Flushes a folder's entries (creations, renames) to disk; best effort where the OS cannot.</summary>
    public static void SyncDirectory(string path)
    {
        if (OperatingSystem.IsWindows())
            return;
        int fd = Open(path, O_RDONLY);
        if (fd < 0)
            return;
        try
        {
            _ = Fsync(fd); // EINVAL on file systems that do not sync folders: nothing more we can do
        }
        finally
        {
            _ = Close(fd);
        }
    }

    // DllImport rather than LibraryImport: the generated stubs would need AllowUnsafeBlocks for three int calls.
    [DllImport("libc", EntryPoint = "open")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport("libc", EntryPoint = "fsync")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Fsync(int fd);

    [DllImport("libc", EntryPoint = "close")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Close(int fd);
}
