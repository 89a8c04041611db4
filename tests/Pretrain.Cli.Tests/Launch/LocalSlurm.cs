namespace Pretrain.Cli.Tests.Launch;

/// <summary>
/// The one-node SLURM cluster of tools/slurm/local-cluster.sh: the one .ci/run started, else one started here and
/// stopped (by its pids) on dispose. <see cref="Run"/> runs SLURM's clients against it; <see cref="Logs"/> is what a
/// failing test prints.
/// </summary>
internal sealed class LocalSlurm : IDisposable
{
    private static readonly string Script = Path.Combine(CliRunner.RepoRoot, "tools", "slurm", "local-cluster.sh");
    private readonly bool _startedHere;

    public LocalSlurm()
    {
        var (code, output) = ReferenceTools.Run("bash", [Script, "status"], TimeSpan.FromSeconds(30));
        if (code != 0)
        {
            (code, output) = ReferenceTools.Run("bash", [Script, "start"], TimeSpan.FromSeconds(90));
            if (code != 0) throw new Xunit.Sdk.XunitException($"tools/slurm/local-cluster.sh start failed (exit {code}):\n{output}");
            _startedHere = true;
        }
        Conf = output.Split('\n').Select(l => l.Trim()).Last(l => l.StartsWith("SLURM_CONF=", StringComparison.Ordinal))["SLURM_CONF=".Length..];
    }

    /// <summary>The cluster's slurm.conf (SLURM_CONF for the clients).</summary>
    public string Conf { get; }

    /// <summary>Runs sbatch, scontrol, scancel… against this cluster; exit −1 on a timeout.</summary>
    public (int ExitCode, string Output) Run(string program, IEnumerable<string> arguments, string? workingDirectory = null,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var env = new Dictionary<string, string>(environment ?? new Dictionary<string, string>()) { ["SLURM_CONF"] = Conf };
        return ReferenceTools.Run(program, arguments, TimeSpan.FromSeconds(30), workingDirectory: workingDirectory, environment: env);
    }

    /// <summary>A job's state and restart count from `scontrol show job` (state "" when the controller does not know it).</summary>
    public (string State, int Restarts) Job(string id)
    {
        var (_, output) = Run("scontrol", ["show", "job", id, "-o"]);
        string Field(string name) => output.Split(' ', '\n').FirstOrDefault(f => f.StartsWith(name + "=", StringComparison.Ordinal))?[(name.Length + 1)..] ?? "";
        return (Field("JobState"), int.TryParse(Field("Restarts"), out int n) ? n : 0);
    }

    /// <summary>The last lines of slurmctld's and slurmd's logs.</summary>
    public string Logs()
    {
        string dir = Path.GetDirectoryName(Conf)!;
        return string.Join('\n', new[] { "slurmctld.log", "slurmd.log" }.Select(name =>
        {
            string path = Path.Combine(dir, name);
            return File.Exists(path) ? $"--- {name}\n{string.Join('\n', File.ReadAllLines(path).TakeLast(40))}" : $"--- {name}: none";
        }));
    }

    public void Dispose()
    {
        if (_startedHere) ReferenceTools.Run("bash", [Script, "stop"], TimeSpan.FromSeconds(60));
    }
}
