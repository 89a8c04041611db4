using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text;

namespace Pretrain.Training.Recipes;

/// <summary>
/// What the binder, writer and differ know about the recipe records: the snake_case key of each settable property,
/// which are required or nullable, and the kind of value each holds. Reflection only; no attributes needed.
/// </summary>
internal static class RecipeSchema
{
    private static readonly NullabilityInfoContext s_nullability = new();
    private static readonly Dictionary<Type, IReadOnlyList<RecipeProperty>> s_cache = [];

    /// <summary>The settable public properties of a recipe record, in declaration order.</summary>
    public static IReadOnlyList<RecipeProperty> Properties(Type type)
    {
        lock (s_cache)
        {
            if (!s_cache.TryGetValue(type, out var list))
            {
                list = type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
                    .Where(p => p.CanWrite && p.GetIndexParameters().Length == 0)
                    .OrderBy(p => p.MetadataToken)
                    .Select(p => new RecipeProperty(
                        SnakeCase(p.Name),
                        p,
                        p.IsDefined(typeof(RequiredMemberAttribute), inherit: false),
                        IsNullable(p)))
                    .ToList();
                s_cache[type] = list;
            }
            return list;
        }
    }

    /// <summary>Records map from YAML mappings; everything else is a scalar or a list.</summary>
    public static bool IsSection(Type type) =>
        type.IsClass && type != typeof(string) && !IsList(type, out _);

    /// <summary>IReadOnlyList&lt;T&gt; (or a type implementing it, such as T[]) gives T.</summary>
    public static bool IsList(Type type, out Type element)
    {
        var list = type.IsGenericType && type.GetGenericTypeDefinition() == typeof(IReadOnlyList<>)
            ? type
            : type.GetInterfaces().FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IReadOnlyList<>));
        element = list?.GetGenericArguments()[0]!;
        return list is not null && type != typeof(string);
    }

    /// <summary>MaxSteps → max_steps, NumKvHeads → num_kv_heads.</summary>
    public static string SnakeCase(string pascal)
    {
        var sb = new StringBuilder(pascal.Length + 4);
        for (int i = 0; i < pascal.Length; i++)
        {
            char c = pascal[i];
            if (char.IsUpper(c))
            {
                if (i > 0)
                    sb.Append('_');
                sb.Append(char.ToLowerInvariant(c));
            }
            else
            {
                sb.Append(c);
            }
        }
        return sb.ToString();
    }

    /// <summary>Every dotted key of the schema under <paramref name="type"/> (sections and leaves).</summary>
    public static IEnumerable<string> AllKeys(Type type, string prefix = "")
    {
        foreach (var p in Properties(type))
        {
            string key = prefix.Length == 0 ? p.Key : $"{prefix}.{p.Key}";
            yield return key;
            var t = Nullable.GetUnderlyingType(p.Info.PropertyType) ?? p.Info.PropertyType;
            if (IsSection(t))
            {
                foreach (var k in AllKeys(t, key))
                    yield return k;
            }
        }
    }

    private static bool IsNullable(PropertyInfo p)
    {
        if (p.PropertyType.IsValueType)
            return Nullable.GetUnderlyingType(p.PropertyType) is not null;
        lock (s_nullability)
            return s_nullability.Create(p).WriteState == NullabilityState.Nullable;
    }
}
