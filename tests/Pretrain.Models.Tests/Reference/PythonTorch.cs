using System.Diagnostics;

namespace Pretrain.Models.Tests.Reference;

/// <summary>Debian's python3-torch, the independent reference implementation for numerical checks.</summary>
internal static class PythonTorch
{
    public const string Python = "/usr/bin/python3";

    private static readonly Lazy<string?> Missing = new(Probe);

    /// <summary>Null when <c>/usr/bin/python3 -c "import torch"</c> works; else why not.</summary>
    public static string? WhyMissing => Missing.Value;

    /// <summary>CI sets CI=true; there a missing reference is a failure, not a skip.</summary>
    public static bool OnCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>Runs a Python script; returns (exit code, stdout + stderr).</summary>
    public static (int ExitCode, string Output) Run(IEnumerable<string> arguments, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(Python) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in arguments)
            start.ArgumentList.Add(a);
        start.Environment["OMP_NUM_THREADS"] = "1";
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            return (-1, $"timed out after {timeout.TotalSeconds} s");
        }
        return (process.ExitCode, stdout.Result + stderr.Result);
    }

    private static string? Probe()
    {
        if (!File.Exists(Python))
            return $"{Python} is not installed (apt-get install python3-torch)";
        try
        {
            var (code, output) = Run(["-c", "import torch"], TimeSpan.FromSeconds(60));
            return code == 0 ? null : $"'{Python} -c \"import torch\"' failed (apt-get install python3-torch): {output.Trim()}";
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return $"{Python} cannot run: {e.Message}";
        }
    }
}
