using System.Collections;

namespace Pretrain.Training.Recipes;

/// <summary>
/// The dotted keys whose effective values differ between two recipes (lists compared item by item, a section
/// present on one side only reported as the section's key).
/// </summary>
internal static class RecipeDiff
{
    /// <summary>List items that are sections (data.train.mix) compare by their keys' values, not by reference.</summary>
    private sealed class SectionComparer : IEqualityComparer<object?>
    {
        public static readonly SectionComparer Instance = new();

        public new bool Equals(object? a, object? b)
        {
            if (a is null || b is null || !RecipeSchema.IsSection(a.GetType()) || a.GetType() != b.GetType())
                return object.Equals(a, b);
            var keys = new List<string>();
            Compare(a.GetType(), a, b, "", keys);
            return keys.Count == 0;
        }

        public int GetHashCode(object? obj) => 0;
    }

    public static List<string> Differences(Recipe a, Recipe b)
    {
        var keys = new List<string>();
        Compare(typeof(Recipe), a, b, "", keys);
        return keys;
    }

    private static void Compare(Type type, object a, object b, string path, List<string> keys)
    {
        foreach (var p in RecipeSchema.Properties(type))
        {
            string key = path.Length == 0 ? p.Key : $"{path}.{p.Key}";
            object? x = p.Info.GetValue(a);
            object? y = p.Info.GetValue(b);
            if (x is null || y is null)
            {
                if (x is not null || y is not null)
                    keys.Add(key);
            }
            else if (RecipeSchema.IsSection(p.ValueType))
            {
                Compare(p.ValueType, x, y, key, keys);
            }
            else if (x is IEnumerable xs && y is IEnumerable ys && x is not string)
            {
                if (!xs.Cast<object?>().SequenceEqual(ys.Cast<object?>(), SectionComparer.Instance))
                    keys.Add(key);
            }
            else if (!x.Equals(y))
            {
                keys.Add(key);
            }
        }
    }
}
