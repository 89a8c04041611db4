namespace Pretrain.Data.Text;

/// <summary>Finds a tokenizer's files from <c>tokenizer.path</c> and writes them into a saved tokenizer folder.</summary>
internal static class TokenizerFiles
{
    /// <summary>
    /// <paramref name="path"/> itself when it is a file, else <paramref name="defaultName"/> inside that folder, else
    /// the only file with <paramref name="extension"/> there.
    /// </summary>
    public static string Find(string? path, string kind, string defaultName, string extension)
    {
        if (string.IsNullOrWhiteSpace(path))
        {
            throw new DataException($"tokenizer.kind '{kind}' needs tokenizer.path: the {defaultName} file or its folder.");
        }

        string full = System.IO.Path.GetFullPath(path);
        if (File.Exists(full))
        {
            return full;
        }

        if (!Directory.Exists(full))
        {
            throw new DataException($"tokenizer.path '{path}' does not exist (kind '{kind}' needs {defaultName} or its folder).");
        }

        string named = System.IO.Path.Combine(full, defaultName);
        if (File.Exists(named))
        {
            return named;
        }

        var candidates = Directory.GetFiles(full, "*" + extension);
        if (candidates.Length == 1)
        {
            return candidates[0];
        }

        throw new DataException(candidates.Length == 0
            ? $"{full} has no {defaultName} (tokenizer.kind '{kind}'); point tokenizer.path at the file."
            : $"{full} has several *{extension} files and no {defaultName}; point tokenizer.path at one of them.");
    }

    /// <summary>Writes <paramref name="content"/> to <paramref name="directory"/>/<paramref name="name"/> atomically.</summary>
    public static void Write(string directory, string name, byte[] content)
    {
        Directory.CreateDirectory(directory);
        string target = System.IO.Path.Combine(directory, name);
        File.WriteAllBytes(target + ".tmp", content);
        File.Move(target + ".tmp", target, overwrite: true);
    }

    /// <summary>Writes <paramref name="content"/> to <paramref name="directory"/>/<paramref name="name"/> atomically.</summary>
    public static void Write(string directory, string name, string content)
    {
        Directory.CreateDirectory(directory);
        string target = System.IO.Path.Combine(directory, name);
        File.WriteAllText(target + ".tmp", content);
        File.Move(target + ".tmp", target, overwrite: true);
    }
}
