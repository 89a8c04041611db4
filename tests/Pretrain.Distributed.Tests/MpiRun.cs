using System.Diagnostics;

namespace Pretrain.Distributed.Tests;

/// <summary>Runs tests/Pretrain.Distributed.Probe under the real mpirun (Open MPI) with N ranks on this machine.</summary>
internal static class MpiRun
{
    /// <summary>The probe's build output: the same configuration folder as this test assembly, in the probe's project.</summary>
    public static string ProbeDll
    {
        get
        {
            string dir = AppContext.BaseDirectory.Replace("Pretrain.Distributed.Tests", "Pretrain.Distributed.Probe", StringComparison.Ordinal);
            string dll = Path.Combine(dir, "Pretrain.Distributed.Probe.dll");
            return File.Exists(dll) ? dll : throw new FileNotFoundException($"the probe is not built: {dll} (dotnet build tests/Pretrain.Distributed.Tests)");
        }
    }

    /// <summary>mpirun -np <paramref name="ranks"/> dotnet probe ARGS…; returns the exit code, all output and the wall time.</summary>
    public static (int ExitCode, string Output, TimeSpan Elapsed) Probe(int ranks, IEnumerable<string> arguments, TimeSpan timeout,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";
        var started = Stopwatch.StartNew();
        var (code, output) = ReferenceTools.Run("mpirun",
            ["--allow-run-as-root", "--oversubscribe", "-np", ranks.ToString(System.Globalization.CultureInfo.InvariantCulture), dotnet, ProbeDll, .. arguments],
            timeout, environment: environment);
        return (code, output, started.Elapsed);
    }
}
