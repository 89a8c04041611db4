using System.Collections;

namespace Pretrain.Training.Recipes;

/// <summary>
/// The dotted keys whose effective values differ between two recipes (lists compared item by item, a section
/// present on one side only reported as the section's key).
/// </summary>
internal static class RecipeDiff
{
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
                if (!xs.Cast<object?>().SequenceEqual(ys.Cast<object?>()))
                    keys.Add(key);
            }
            else if (!x.Equals(y))
            {
                keys.Add(key);
            }
        }
    }
}
