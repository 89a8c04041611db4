using System.Collections;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Pretrain.Training.Recipes;

/// <summary>
/// Maps a YAML tree onto the recipe records by reflection: snake_case keys to PascalCase init properties, defaults
/// from the records' initializers. Collects every problem (unknown key with a suggestion, wrong type, missing required
/// key, section vs value) with its location, and where each key came from for later value checks.
/// </summary>
internal sealed class RecipeBinder(string sourceName, IReadOnlyDictionary<YamlNode, string> overrideOrigins)
{
    private readonly List<string> _problems = [];
    private readonly Dictionary<string, string> _locations = new(StringComparer.Ordinal);

    /// <summary>Problems found while binding, one message each.</summary>
    public IReadOnlyList<string> Problems => _problems;

    /// <summary>Dotted key → "file:line" or "--set text", for every key the YAML or an override set.</summary>
    public IReadOnlyDictionary<string, string> Locations => _locations;

    public T Bind<T>(YamlMappingNode root) where T : class => (T)BindSection(typeof(T), root, path: "");

    /// <summary>"a list", "a mapping", "'abc'": how a node is named in messages.</summary>
    public static string Describe(YamlNode node) => node switch
    {
        YamlSequenceNode => "a list",
        YamlMappingNode => "a mapping",
        YamlScalarNode s when RecipeScalars.IsNull(s) => "null",
        YamlScalarNode { Style: ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted } s => $"the quoted string '{s.Value}'",
        YamlScalarNode s => $"'{s.Value}'",
        _ => node.NodeType.ToString(),
    };

    private string Where(YamlNode node) =>
        overrideOrigins.TryGetValue(node, out string? origin) ? origin : $"{sourceName}:{node.Start.Line}";

    // A value is reported at its key's line (where the user looks), unless the value came from --set.
    private string Where(YamlNode key, YamlNode value) =>
        overrideOrigins.ContainsKey(value) ? Where(value) : Where(key);

    private object BindSection(Type type, YamlMappingNode map, string path)
    {
        object section = Activator.CreateInstance(type)!; // runs the property initializers: the defaults
        var properties = RecipeSchema.Properties(type);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (keyNode, valueNode) in map.Children)
        {
            if (keyNode is not YamlScalarNode { Value: { } key } || RecipeScalars.IsNull((YamlScalarNode)keyNode))
            {
                _problems.Add($"{Where(keyNode)}: keys must be plain names; found {Describe(keyNode)} as a key"
                    + (path.Length == 0 ? "" : $" in '{path}'"));
                continue;
            }
            string keyPath = Join(path, key);
            var property = properties.FirstOrDefault(p => p.Key == key);
            if (property is null)
            {
                _problems.Add($"{Where(keyNode)}: unknown key '{keyPath}'. {RecipeKeySuggester.Hint(type, path, key)}");
                continue;
            }
            seen.Add(key);
            string where = Where(keyNode, valueNode);
            _locations[keyPath] = where;
            if (TryConvert(property.ValueType, property.Nullable, valueNode, keyPath, where, out object? value))
                property.Info.SetValue(section, value);
        }
        foreach (var missing in properties.Where(p => p.Required && !seen.Contains(p.Key)))
        {
            string at = path.Length == 0 ? sourceName : Where(map);
            _problems.Add($"{at}: missing required key '{Join(path, missing.Key)}'; add it"
                + (path.Length == 0 ? " at the top of the file" : $" under '{path}'"));
        }
        return section;
    }

    private bool TryConvert(Type type, bool nullable, YamlNode node, string path, string where, out object? value)
    {
        value = null;
        if (node is YamlScalarNode nullNode && RecipeScalars.IsNull(nullNode))
        {
            if (nullable)
                return true;
            if (RecipeSchema.IsSection(type))
            {
                value = Activator.CreateInstance(type); // an empty section: all defaults
                return true;
            }
            return Problem($"{where}: {path} must be {Expected(type)}, got null (remove the key to use the default)");
        }

        if (RecipeSchema.IsSection(type))
        {
            if (node is YamlMappingNode map)
            {
                value = BindSection(type, map, path);
                return true;
            }
            string keys = string.Join(", ", RecipeSchema.Properties(type).Take(4).Select(p => p.Key));
            return Problem($"{where}: {path} must be a section (a mapping with keys such as {keys}), got {Describe(node)}");
        }

        if (RecipeSchema.IsList(type, out var element))
        {
            // A single value where a list is expected is a one-item list (files: data/*.parquet).
            var items = node is YamlSequenceNode seq ? seq.Children : node is YamlScalarNode ? [node] : null;
            if (items is null)
                return Problem($"{where}: {path} must be {Expected(type)}, got {Describe(node)}");
            var array = Array.CreateInstance(element, items.Count);
            bool ok = true;
            for (int i = 0; i < items.Count; i++)
            {
                string itemWhere = node is YamlSequenceNode ? Where(items[i]) : where;
                if (TryConvert(element, nullable: false, items[i], $"{path}[{i}]", itemWhere, out object? item))
                    ((IList)array)[i] = item;
                else
                    ok = false;
            }
            value = array;
            return ok;
        }

        if (node is not YamlScalarNode scalar)
            return Problem($"{where}: {path} must be {Expected(type)}, got {Describe(node)}");
        string text = scalar.Value ?? "";
        if (type == typeof(string))
        {
            value = text;
            return true;
        }
        if (scalar.Style is ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted)
            return Problem($"{where}: {path} must be {Expected(type)}, got the quoted string '{text}' (remove the quotes)");
        if (type == typeof(bool) && RecipeScalars.TryParseBool(text, out bool b))
            value = b;
        else if (type == typeof(int) && RecipeScalars.TryParseLong(text, out long i))
        {
            if (i is < int.MinValue or > int.MaxValue)
                return Problem($"{where}: {path} must be an integer between {int.MinValue} and {int.MaxValue}, got '{text}'");
            value = (int)i;
        }
        else if (type == typeof(long) && RecipeScalars.TryParseLong(text, out long l))
            value = l;
        else if (type == typeof(double) && RecipeScalars.TryParseDouble(text, out double d))
            value = d;
        else if (type != typeof(bool) && type != typeof(int) && type != typeof(long) && type != typeof(double))
            throw new NotSupportedException($"Recipe binder has no conversion for {type} ({path}).");
        else
            return Problem($"{where}: {path} must be {Expected(type)}, got '{text}'");
        return true;
    }

    private bool Problem(string message)
    {
        _problems.Add(message);
        return false;
    }

    private static string Expected(Type type) => type switch
    {
        _ when type == typeof(int) || type == typeof(long) => "an integer",
        _ when type == typeof(double) => "a number (e.g. 0.1, 6e-4)",
        _ when type == typeof(bool) => "true or false",
        _ when type == typeof(string) => "a string",
        _ when RecipeSchema.IsList(type, out var e) && e == typeof(string) => "a list of strings, e.g. [a.parquet, b.parquet]",
        _ when RecipeSchema.IsList(type, out var e) && e == typeof(double) => "a list of numbers, e.g. [0.9, 0.95]",
        _ when RecipeSchema.IsList(type, out var e) => "a list of integers, e.g. [0, 1]",
        _ => type.Name,
    };

    private static string Join(string path, string key) => path.Length == 0 ? key : $"{path}.{key}";
}
