using System.Text;
using System.Text.RegularExpressions;

namespace Pretrain.Data.Sources;

/// <summary>
/// Expands file paths, directories (every <c>*.parquet</c> below them) and globs (<c>*</c>, <c>?</c>, <c>**</c>)
/// into one sorted, de-duplicated list of absolute paths; http(s):// URLs pass through unchanged.
/// </summary>
public static class FileResolver
{
    /// <summary>Resolves <paramref name="patterns"/>; <paramref name="what"/> names the setting in error messages.</summary>
    /// <exception cref="DataException">No patterns were given, or a pattern matched no files.</exception>
    public static IReadOnlyList<string> Resolve(IEnumerable<string> patterns, string what)
    {
        var list = patterns.Where(p => !string.IsNullOrWhiteSpace(p)).Select(p => p.Trim()).ToList();
        if (list.Count == 0)
        {
            throw new DataException($"{what} is empty: give at least one Parquet file, directory or glob.");
        }

        var found = new SortedSet<string>(StringComparer.Ordinal);
        var unmatched = new List<string>();
        foreach (string pattern in list)
        {
            var matches = Expand(pattern).ToList();
            found.UnionWith(matches);
            if (matches.Count == 0)
            {
                unmatched.Add(pattern);
            }
        }

        if (unmatched.Count > 0)
        {
            string names = string.Join(", ", unmatched.Select(p => $"'{p}'"));
            string cwd = Directory.GetCurrentDirectory();
            throw new DataException(
                $"{what} matched no files: {names} (relative paths are taken from '{cwd}'). " +
                "Check the path, or give a directory to read every *.parquet file below it.");
        }

        return found.ToList();
    }

    private static IEnumerable<string> Expand(string pattern)
    {
        if (ByteSource.IsUrl(pattern))
        {
            return [pattern]; // read with range requests (see ByteSource); not listed or globbed
        }

        if (pattern.StartsWith("~/", StringComparison.Ordinal))
        {
            pattern = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), pattern[2..]);
        }

        string full = Path.GetFullPath(pattern);
        if (full.IndexOfAny(['*', '?']) < 0)
        {
            if (File.Exists(full))
            {
                return [full];
            }

            return Directory.Exists(full)
                ? Directory.EnumerateFiles(full, "*.parquet", SearchOption.AllDirectories).Select(Path.GetFullPath)
                : [];
        }

        // Split into the literal root (segments before the first wildcard) and the glob below it.
        string[] parts = full.Split(Path.DirectorySeparatorChar);
        int firstWild = Array.FindIndex(parts, s => s.IndexOfAny(['*', '?']) >= 0);
        string root = string.Join(Path.DirectorySeparatorChar, parts[..firstWild]);
        if (root.Length == 0)
        {
            root = Path.DirectorySeparatorChar.ToString();
        }

        if (!Directory.Exists(root))
        {
            return [];
        }

        var regex = GlobToRegex(parts[firstWild..]);
        // One wildcard segment that is not '**' looks only in the root; anything else walks below it.
        bool recursive = parts.Length - firstWild > 1 || parts[firstWild] == "**";
        var option = recursive ? SearchOption.AllDirectories : SearchOption.TopDirectoryOnly;
        return Directory.EnumerateFiles(root, "*", option)
            .Where(f => regex.IsMatch(Path.GetRelativePath(root, f).Replace(Path.DirectorySeparatorChar, '/')))
            .Select(Path.GetFullPath);
    }

    /// <summary>Segments joined by '/': '**' matches any number of folders, '*' and '?' stay within one name.</summary>
    private static Regex GlobToRegex(string[] segments)
    {
        var sb = new StringBuilder("^");
        for (int i = 0; i < segments.Length; i++)
        {
            string seg = segments[i];
            bool last = i == segments.Length - 1;
            if (seg == "**")
            {
                sb.Append(last ? ".*" : "(?:[^/]+/)*");
                continue;
            }

            foreach (char c in seg)
            {
                sb.Append(c switch
                {
                    '*' => "[^/]*",
                    '?' => "[^/]",
                    _ => Regex.Escape(c.ToString()),
                });
            }

            if (!last)
            {
                sb.Append('/');
            }
        }

        return new Regex(sb.Append('$').ToString(), RegexOptions.CultureInvariant);
    }
}
