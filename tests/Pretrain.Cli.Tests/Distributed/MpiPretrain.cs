using System.Diagnostics;
using System.Globalization;
using Pretrain.Models.Weights;
using static TorchSharp.torch;

namespace Pretrain.Cli.Tests.Distributed;

/// <summary>The built `pretrain` CLI under the real mpirun (Open MPI), N ranks on this machine, and what the tests compare.</summary>
internal static class MpiPretrain
{
    private static string Dotnet => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";
    private static string Dll => Path.Combine(AppContext.BaseDirectory, "pretrain.dll");

    /// <summary>mpirun -np N pretrain ARGS… (N = 1: the plain process, no launcher); returns the exit code and all output.</summary>
    public static (int ExitCode, string Output) Run(int ranks, string workDir, params string[] args) => Run(ranks, workDir, null, args);

    /// <summary>As <see cref="Run(int, string, string[])"/>, with extra environment variables (mpirun passes them to its local ranks).</summary>
    public static (int ExitCode, string Output) Run(int ranks, string workDir, IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var (program, arguments) = Command(ranks, args);
        return ReferenceTools.Run(program, arguments, TimeSpan.FromSeconds(180), workingDirectory: workDir, environment: environment);
    }

    /// <summary>Starts mpirun -np N pretrain ARGS… without waiting (output collected as it comes).</summary>
    public static Process Start(int ranks, string workDir, System.Collections.Concurrent.ConcurrentQueue<string> lines, params string[] args) =>
        Start(ranks, [], workDir, lines, args);

    /// <summary>Starts mpirun [MPIRUN_OPTIONS] -np N pretrain ARGS… without waiting.</summary>
    public static Process Start(int ranks, string[] mpirunOptions, string workDir, System.Collections.Concurrent.ConcurrentQueue<string> lines, params string[] args)
    {
        var (program, arguments) = Command(ranks, args);
        if (ranks > 1) arguments = [.. mpirunOptions, .. arguments];
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = workDir };
        foreach (var a in arguments) start.ArgumentList.Add(a);
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lines.Enqueue(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lines.Enqueue(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static (string Program, string[] Arguments) Command(int ranks, string[] args) => ranks == 1
        ? (Dotnet, [Dll, .. args])
        : ("mpirun", ["--allow-run-as-root", "--oversubscribe", "-np", ranks.ToString(CultureInfo.InvariantCulture), Dotnet, Dll, .. args]);

    /// <summary>The pid of rank <paramref name="rank"/> among mpirun's children (OMPI_COMM_WORLD_RANK in its environment); null while not started.</summary>
    public static int? RankPid(int mpirunPid, int rank)
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid)) continue;
            try
            {
                var status = File.ReadAllLines(Path.Combine(dir, "status"));
                if (!status.Any(l => l == $"PPid:\t{mpirunPid}")) continue;
                var env = File.ReadAllText(Path.Combine(dir, "environ")).Split('\0');
                if (env.Contains($"OMPI_COMM_WORLD_RANK={rank}")) return pid;
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        return null;
    }

    /// <summary>
    /// The exit status (waitpid's form: code &lt;&lt; 8, or the signal number) of a child that has ended but is not yet
    /// reaped: field 52 of /proc/PID/stat while the process is a zombie; null while it runs or once it is gone.
    /// </summary>
    public static int? ZombieStatus(int pid)
    {
        string stat;
        try { stat = File.ReadAllText($"/proc/{pid}/stat"); }
        catch (IOException) { return null; }
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');   // fields[0] is field 3, the state
        return fields[0] == "Z" ? int.Parse(fields[49], CultureInfo.InvariantCulture) : null;
    }

    /// <summary>‖a − b‖ / ‖a‖ over all tensors of two safetensors files with the same keys, and the largest element difference.</summary>
    public static (double Relative, double MaxAbs) Compare(string a, string b)
    {
        using var scope = NewDisposeScope();
        var x = Safetensors.Load(a);
        var y = Safetensors.Load(b);
        Assert.Equal(x.Keys.Order(), y.Keys.Order());
        double diff = 0, norm = 0, max = 0;
        foreach (var (k, t) in x)
        {
            var u = t.to(ScalarType.Float64);
            var d = u - y[k].to(ScalarType.Float64);
            diff += d.square().sum().item<double>();
            norm += u.square().sum().item<double>();
            max = Math.Max(max, d.abs().max().item<double>());
        }
        return (Math.Sqrt(diff / norm), max);
    }

    /// <summary>Whether two files hold the same bytes.</summary>
    public static bool SameBytes(string a, string b) => File.ReadAllBytes(a).AsSpan().SequenceEqual(File.ReadAllBytes(b));

    /// <summary>The "loss" of each training row of metrics.jsonl.</summary>
    public static double[] Losses(string runDir) => [.. File.ReadAllLines(Path.Combine(runDir, "metrics.jsonl"))
        .Select(l => System.Text.Json.Nodes.JsonNode.Parse(l)!.AsObject())
        .Where(o => o.ContainsKey("loss")).Select(o => o["loss"]!.GetValue<double>())];
}
