namespace Pretrain.Training.Recipes;

/// <summary>
/// "Did you mean ...?" for an unknown key: the same name spelled another way (MaxSteps, max-steps), the nearest
/// key in the same section by edit distance, or the same name in another section (train.lr → optimizer.lr);
/// otherwise the keys the section has.
/// </summary>
internal static class RecipeKeySuggester
{
    public static string Hint(Type sectionType, string sectionPath, string key)
    {
        var siblings = RecipeSchema.Properties(sectionType).Select(p => p.Key).ToList();
        string? match = siblings.FirstOrDefault(s => Normalize(s) == Normalize(key))
            ?? siblings
                .Select(s => (Key: s, Distance: Distance(s, key)))
                .Where(c => c.Distance <= MaxDistance(key))
                .OrderBy(c => c.Distance)
                .Select(c => c.Key)
                .FirstOrDefault();
        if (match is not null)
            return $"Did you mean '{Join(sectionPath, match)}'?";

        string? elsewhere = RecipeSchema.AllKeys(typeof(Recipe))
            .FirstOrDefault(k => Normalize(k.Split('.')[^1]) == Normalize(key));
        if (elsewhere is not null)
            return $"Did you mean '{elsewhere}'?";

        string where = sectionPath.Length == 0 ? "at the top level" : $"in '{sectionPath}'";
        return $"Keys {where}: {string.Join(", ", siblings)}.";
    }

    /// <summary>Levenshtein distance (insert, delete, substitute), case-sensitive.</summary>
    public static int Distance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++)
            previous[j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int substitute = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
                current[j] = Math.Min(substitute, Math.Min(previous[j] + 1, current[j - 1] + 1));
            }
            (previous, current) = (current, previous);
        }
        return previous[b.Length];
    }

    // Short keys tolerate one typo, longer ones up to three.
    private static int MaxDistance(string key) => key.Length <= 4 ? 1 : key.Length <= 8 ? 2 : 3;

    private static string Normalize(string key) =>
        key.Replace("_", "", StringComparison.Ordinal).Replace("-", "", StringComparison.Ordinal).ToLowerInvariant();

    private static string Join(string path, string key) => path.Length == 0 ? key : $"{path}.{key}";
}
