using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Pretrain.Cli.Tests.Signals;

/// <summary>
/// The built `pretrain` (pretrain.dll beside the tests) as a real child process, so tests can send it real signals.
/// Lines of stdout and stderr are collected as they come; <see cref="WaitForLine"/> waits for one.
/// </summary>
internal sealed class ChildCli : IDisposable
{
    public const int SigInt = 2, SigUsr1 = 10, SigKill = 9, SigTerm = 15;

    private readonly Process _process;
    private readonly BlockingCollection<string> _lines = [];
    private readonly ConcurrentQueue<string> _all = new();

    public ChildCli(string workDir, IReadOnlyDictionary<string, string>? env, params string[] args)
    {
        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";
        // Through env(1), which execs dotnet in the same process: SIGINT back to its default disposition, because a
        // test run started in the background of a shell without job control inherits SIGINT ignored, and .NET keeps
        // an ignored SIGINT ignored (the SIGINT cases would then wait forever).
        var start = new ProcessStartInfo("env")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workDir,
        };
        start.ArgumentList.Add("--default-signal=INT");
        start.ArgumentList.Add(dotnet);
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "pretrain.dll"));
        foreach (var a in args) start.ArgumentList.Add(a);
        foreach (var (k, v) in env ?? new Dictionary<string, string>()) start.Environment[k] = v;
        _process = Process.Start(start)!;
        _process.OutputDataReceived += (_, e) => Add(e.Data);
        _process.ErrorDataReceived += (_, e) => Add(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public int Pid => _process.Id;

    /// <summary>Everything printed so far (stdout and stderr interleaved as received).</summary>
    public string Output => string.Join('\n', _all);

    private void Add(string? line)
    {
        if (line is null) return;
        _all.Enqueue(line);
        _lines.Add(line);
    }

    /// <summary>Waits for a line containing <paramref name="text"/>; fails the test with the output so far otherwise.</summary>
    public void WaitForLine(string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (_lines.TryTake(out var line, TimeSpan.FromMilliseconds(100)) && line.Contains(text, StringComparison.Ordinal)) return;
            if (_process.HasExited && _lines.Count == 0) break;
        }
        throw new Xunit.Sdk.XunitException($"no line with '{text}' within {timeout.TotalSeconds} s (exited: {_process.HasExited}); output:\n{Output}");
    }

    public void Signal(int signal)
    {
        if (Kill(_process.Id, signal) != 0) throw new InvalidOperationException($"kill({_process.Id}, {signal}) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>Waits for the exit and returns its code; kills the process and fails after <paramref name="timeout"/>.</summary>
    public int WaitForExit(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout))
        {
            _process.Kill(entireProcessTree: true);
            throw new Xunit.Sdk.XunitException($"still running after {timeout.TotalSeconds} s; output:\n{Output}");
        }
        _process.WaitForExit();   // drains the redirected streams
        return _process.ExitCode;
    }

    public void Dispose()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        _process.Dispose();
    }

    // DllImport rather than LibraryImport: the generated stub would need AllowUnsafeBlocks for one int call.
    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Kill(int pid, int sig);
}
