using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Pretrain.Cli.Commands;

/// <summary>
/// `pretrain launch --nproc N RECIPE [run options]`: runs `mpirun -np N PRETRAIN run RECIPE [run options]` on this
/// machine with this same `pretrain`, prints that command first and returns mpirun's exit code.
/// Signals: Open MPI's mpirun forwards SIGUSR1 to its ranks, but answers SIGTERM and SIGINT by sending the ranks
/// SIGTERM and SIGKILL about a second later (odls_base_sigkill_timeout), too soon for a step and a checkpoint. So the
/// first SIGTERM, SIGINT or SIGUSR1 to `launch` goes to mpirun as SIGUSR1 (every rank finishes the same step, rank 0
/// checkpoints, all exit 0) and a later one as SIGTERM (stop now). mpirun runs in a session of its own (setsid) so
/// a Ctrl-C on the terminal reaches only `launch`, not mpirun directly. docs/distributed.md has the measurements.
/// </summary>
public static class LaunchCommand
{
    private const int SigUsr1 = 10, SigTerm = 15;

    public static int Execute(IReadOnlyList<string> args, bool verbose, TextWriter stdout, TextWriter stderr)
    {
        int? nproc = null;
        bool oversubscribe = false;
        string bindTo = "none";
        var runArgs = new List<string>();
        for (int i = 0; i < args.Count; i++)
        {
            string a = args[i];
            string Value(string name)
            {
                if (a.StartsWith(name + "=", StringComparison.Ordinal)) return a[(name.Length + 1)..];
                if (i + 1 >= args.Count || args[i + 1].StartsWith("--", StringComparison.Ordinal)) throw new UsageException($"{name} needs a value.");
                return args[++i];
            }
            if (a == "--nproc" || a.StartsWith("--nproc=", StringComparison.Ordinal))
            {
                if (nproc is not null) throw new UsageException("--nproc given more than once.");
                string v = Value("--nproc");
                nproc = int.TryParse(v, out int n) && n >= 1 ? n : throw new UsageException($"--nproc must be a whole number of processes, 1 or more; got '{v}'.");
            }
            else if (a == "--bind-to" || a.StartsWith("--bind-to=", StringComparison.Ordinal)) bindTo = Value("--bind-to");
            else if (a == "--oversubscribe") oversubscribe = true;
            else runArgs.Add(a);
        }
        if (nproc is not { } np) throw new UsageException("pretrain launch needs --nproc N (the number of processes, e.g. one per GPU).");
        // The recipe is checked here so that a typo gives one message, not one per rank; run checks the rest.
        var recipe = new ArgList(runArgs, "--no-export").Positionals;
        if (recipe.Count != 1) throw new UsageException("pretrain launch needs exactly one RECIPE file (then the options of pretrain run).");
        if (!File.Exists(recipe[0])) throw new FileNotFoundException($"Recipe file {recipe[0]} does not exist. Recipes live under recipes/, e.g. recipes/quickstart.yaml.");
        if (OnPath("mpirun") is null) throw new FileNotFoundException("mpirun is not on PATH: pretrain launch runs Open MPI's mpirun (apt-get install openmpi-bin).");

        // setsid (util-linux) gives mpirun a session of its own, so a Ctrl-C on the terminal reaches only us.
        var command = new List<string>();
        if (OnPath("setsid") is not null) command.Add("setsid");
        command.Add("mpirun");
        if (GetEuid() == 0) command.Add("--allow-run-as-root");   // Open MPI refuses root without it
        if (oversubscribe || np > Environment.ProcessorCount) command.Add("--oversubscribe");
        // Open MPI binds each rank to one core when N <= 2, where libtorch's intra-op threads then share one core.
        command.AddRange(["--bind-to", bindTo, "--stdin", "none", "-np", np.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        command.AddRange(Self());
        command.Add("run");
        command.AddRange(runArgs);
        if (verbose) command.Add("--verbose");
        stdout.WriteLine($"launch: {string.Join(' ', command.Select(Quote))}");
        stdout.Flush();
        var start = new ProcessStartInfo(command[0]) { UseShellExecute = false };
        foreach (string c in command.Skip(1)) start.ArgumentList.Add(c);

        var gate = new Lock();
        int pid = 0, pending = 0;
        void Send(int count)
        {
            // count 1: finish the step and checkpoint; later ones: stop now.
            if (Kill(pid, count == 1 ? SigUsr1 : SigTerm) != 0)
                stderr.WriteLine($"launch: could not signal mpirun (pid {pid}): errno {Marshal.GetLastPInvokeError()}");
        }
        using var forwarding = SignalScope.Forwarding((signal, count) =>
        {
            string name = signal switch { 2 => "SIGINT", 15 => "SIGTERM", SigUsr1 => "SIGUSR1", _ => $"signal {signal}" };
            stderr.WriteLine(count == 1
                ? $"launch: {name}: asking the {np} rank(s) to finish their step and checkpoint (SIGUSR1 through mpirun); send it again to stop them now."
                : $"launch: {name} again: stopping the ranks now (SIGTERM to mpirun).");
            stderr.Flush();
            lock (gate)
            {
                if (pid == 0) pending = count;   // mpirun not started yet: sent as soon as it is
                else Send(count);
            }
        });
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {command[0]}");
        lock (gate)
        {
            pid = process.Id;
            if (pending > 0) Send(pending);
        }
        process.WaitForExit();
        return process.ExitCode;
    }

    /// <summary>How to start this same `pretrain` again: the published executable, or `dotnet pretrain.dll`.</summary>
    private static IEnumerable<string> Self()
    {
        string exe = Environment.ProcessPath ?? throw new InvalidOperationException("the path of this process is unknown");
        if (Path.GetFileNameWithoutExtension(exe) != "dotnet") return [exe];
        string dll = typeof(LaunchCommand).Assembly.Location;
        return [exe, dll];
    }

    private static string? OnPath(string program)
    {
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator))
        {
            if (dir.Length > 0 && File.Exists(Path.Combine(dir, program))) return Path.Combine(dir, program);
        }
        return null;
    }

    /// <summary>POSIX shell quoting, so the printed command can be pasted.</summary>
    private static string Quote(string s) =>
        s.Length > 0 && s.All(c => char.IsAsciiLetterOrDigit(c) || "-_./=:,+@%".Contains(c)) ? s : "'" + s.Replace("'", "'\\''") + "'";

    // DllImport rather than LibraryImport: the generated stubs would need AllowUnsafeBlocks for two int calls.
    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Kill(int pid, int sig);

    [DllImport("libc", EntryPoint = "geteuid")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern uint GetEuid();
}
