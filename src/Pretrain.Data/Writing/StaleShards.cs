using System.Text.RegularExpressions;
using Pretrain.Core;

namespace Pretrain.Data.Writing;

/// <summary>
/// What the data writers may remove when they write a folder again: only <c>part-NNNNN.parquet</c> shards that their
/// own earlier write listed (in manifest.json, or a synthetic writer's own stamp), never a user's file of that shape.
/// </summary>
internal static partial class StaleShards
{
    /// <summary>The files an earlier dataset write of ours listed in <paramref name="dir"/>'s manifest.json (none without one).</summary>
    public static IReadOnlyList<string> ListedIn(string dir) =>
        OutputManifest.TryRead(dir) is { Kind: OutputManifest.Dataset } earlier ? earlier.Files : [];

    /// <summary>Deletes the shards in <paramref name="earlier"/> that are not in <paramref name="keep"/> (names relative to <paramref name="dir"/>).</summary>
    public static void Delete(string dir, IEnumerable<string> earlier, IEnumerable<string> keep)
    {
        var kept = keep.Select(Path.GetFileName).ToHashSet(StringComparer.Ordinal);
        foreach (string name in earlier.Distinct(StringComparer.Ordinal))
        {
            if (!kept.Contains(name) && ShardName().IsMatch(name))
            {
                File.Delete(Path.Combine(dir, name));   // no-op when already gone
            }
        }
    }

    /// <summary>Records the files of this write as ours (manifest.json, kind dataset).</summary>
    public static void Record(string dir, IEnumerable<string> files) =>
        new OutputManifest(OutputManifest.Dataset, files.Select(f => Path.GetFileName(f)!).Order(StringComparer.Ordinal).ToList()).Save(dir);

    [GeneratedRegex(@"^part-[0-9]{5,}\.parquet$", RegexOptions.CultureInvariant)]
    private static partial Regex ShardName();
}
