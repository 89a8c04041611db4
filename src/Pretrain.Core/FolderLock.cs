using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Pretrain.Core;

/// <summary>
/// One writer per folder: an exclusive flock(2) on a lock file that holds "pid P on host H since T (what)". The
/// kernel drops the lock when the holder's file descriptor closes, so a SIGKILLed writer never leaves a folder locked;
/// a left-over file is harmless and only says who held it last. A second writer is refused with the holder's pid and
/// host. flock is per open file description, so two acquisitions in one process conflict as well.
/// With several ranks, only rank 0 acquires it (the others write nothing into the folder); distributed runs are not
/// built yet, so there is no rank parameter.
/// </summary>
public sealed class FolderLock : IDisposable
{
    private const int LOCK_EX = 2, LOCK_NB = 4;
    private const int MaxHolderBytes = 512;
    private SafeFileHandle? _handle;
    private readonly bool _deleteOnRelease;

    private FolderLock(string path, SafeFileHandle handle, bool deleteOnRelease)
    {
        LockFile = path;
        _handle = handle;
        _deleteOnRelease = deleteOnRelease;
    }

    /// <summary>The lock file's full path.</summary>
    public string LockFile { get; }

    /// <summary>
    /// Takes the lock on <paramref name="lockFile"/> (created if missing, in an existing folder) or throws
    /// <see cref="OutputFolderException"/> naming the holder. <paramref name="what"/> names the folder and command in
    /// messages ("run folder /x (pretrain run)"). With <paramref name="deleteOnRelease"/> the file is removed again
    /// on <see cref="Dispose"/> (while still held; an acquirer that finds its file unlinked under it retries).
    /// </summary>
    public static FolderLock Acquire(string lockFile, string what, bool deleteOnRelease = false)
    {
        string path = Path.GetFullPath(lockFile);
        for (int attempt = 0; ; attempt++)
        {
            var handle = OpenAndLock(path, what, out string? holder);
            if (handle is null)
            {
                throw new OutputFolderException($"{what} is in use by another pretrain process ({holder}); wait for it to end or stop it, then run again. "
                    + $"The OS releases the lock ({path}) when that process exits; do not delete it.");
            }

            if (IsUnlinked(handle) && attempt < 10)
            {
                handle.Dispose();   // the previous holder removed this file as it released it: lock the new one
                continue;
            }

            string line = string.Create(CultureInfo.InvariantCulture,
                $"pid {Environment.ProcessId} on host {Environment.MachineName} since {DateTime.UtcNow:yyyy-MM-ddTHH:mm:ssZ} ({what})\n");
            if (!OperatingSystem.IsWindows())
            {
                _ = Ftruncate(handle, 0);
            }

            RandomAccess.Write(handle, Encoding.UTF8.GetBytes(line), 0);
            return new FolderLock(path, handle, deleteOnRelease);
        }
    }

    /// <summary>Releases the lock (and removes the file when asked to); the process exiting does the same.</summary>
    public void Dispose()
    {
        var handle = Interlocked.Exchange(ref _handle, null);
        if (handle is null)
        {
            return;
        }

        if (_deleteOnRelease)
        {
            try
            {
                File.Delete(LockFile);   // still held here, so no other process has locked this file
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }

        handle.Dispose();
    }

    /// <summary>An open, locked handle, or null with the holder's line when another open file holds the lock.</summary>
    private static SafeFileHandle? OpenAndLock(string path, string what, out string? holder)
    {
        holder = null;
        if (OperatingSystem.IsWindows())
        {
            // Windows has no flock; a share-none open is its own OS lock, also released when the process dies.
            try
            {
                return File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException)
            {
                holder = "holder unknown";
                return null;
            }
        }

        int flags = OperatingSystem.IsMacOS() ? 0x2 | 0x200 | 0x1000000 : 0x2 | 0x40 | 0x80000;   // O_RDWR | O_CREAT | O_CLOEXEC
        int fd = Open(path, flags, 420 /* 0644 */);
        if (fd < 0)
        {
            throw new OutputFolderException($"Cannot open the lock file {path} for {what}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}. "
                + "Check that the folder is writable.");
        }

        var handle = new SafeFileHandle(fd, ownsHandle: true);
        if (Flock(handle, LOCK_EX | LOCK_NB) == 0)
        {
            return handle;
        }

        int errno = Marshal.GetLastPInvokeError();
        if (errno != 11 && errno != 35)   // EWOULDBLOCK on Linux / macOS
        {
            handle.Dispose();
            throw new OutputFolderException($"Cannot lock {path} for {what}: {Marshal.GetPInvokeErrorMessage(errno)}. "
                + "The file system may not support flock(2); use a local folder.");
        }

        holder = ReadHolder(handle);
        handle.Dispose();
        return null;
    }

    /// <summary>The holder's line, bounded and stripped of control characters (the file could hold anything).</summary>
    private static string ReadHolder(SafeFileHandle handle)
    {
        var buffer = new byte[MaxHolderBytes];
        int n = RandomAccess.Read(handle, buffer, 0);
        var text = new StringBuilder();
        foreach (char c in Encoding.UTF8.GetString(buffer, 0, n).Trim())
        {
            text.Append(char.IsControl(c) ? ' ' : c);
        }

        return text.Length == 0 ? "pid unknown: it is just starting" : text.ToString();
    }

    /// <summary>Whether the locked file was unlinked after we opened it (Linux: /proc/self/fd names it "… (deleted)").</summary>
    private static bool IsUnlinked(SafeFileHandle handle)
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }

        string? target = new FileInfo($"/proc/self/fd/{handle.DangerousGetHandle()}").LinkTarget;
        return target is not null && target.EndsWith(" (deleted)", StringComparison.Ordinal);
    }

    // DllImport rather than LibraryImport: the generated stubs would need AllowUnsafeBlocks for three int calls.
    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, int mode);

    [DllImport("libc", EntryPoint = "flock", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Flock(SafeFileHandle fd, int operation);

    [DllImport("libc", EntryPoint = "ftruncate", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Ftruncate(SafeFileHandle fd, long length);
}
