using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Pretrain.Training.Recipes;

/// <summary>
/// <c>--set a.b.c=value</c>: the value is read as a YAML scalar or flow value and put into the YAML tree before
/// binding, creating sections that are missing, so overrides get the same checks and messages as the file.
/// Nodes that come from an override are recorded with their origin ("--set a.b.c=value") for error messages.
/// </summary>
internal static class RecipeOverrides
{
    public static void Apply(YamlMappingNode root, IEnumerable<string> overrides, IDictionary<YamlNode, string> origins)
    {
        var problems = new List<string>();
        foreach (string text in overrides)
        {
            string? problem = ApplyOne(root, text, origins);
            if (problem is not null)
                problems.Add(problem);
        }
        if (problems.Count > 0)
            throw new RecipeException(problems);
    }

    private static string? ApplyOne(YamlMappingNode root, string text, IDictionary<YamlNode, string> origins)
    {
        string origin = $"--set {text}";
        int eq = text.IndexOf('=', StringComparison.Ordinal);
        if (eq < 0)
            return $"{origin}: expected key=value with a dotted key, e.g. --set train.max_steps=50";
        string key = text[..eq].Trim();
        string[] segments = key.Split('.');
        if (segments.Any(s => s.Trim().Length == 0))
        {
            return $"{origin}: '{key}' is not a key; write the dotted snake_case path of the setting, "
                + "e.g. --set optimizer.lr=3e-4";
        }

        string valueText = text[(eq + 1)..].Trim();
        if (RecipeLoaderLimits.Check(valueText) is var (problem, _))
            return $"{origin}: the value {problem}.";
        YamlNode value;
        try
        {
            value = ParseValue(valueText);
        }
        catch (YamlException e)
        {
            return $"{origin}: invalid YAML value: {e.Message}";
        }

        foreach (var node in value.AllNodes)
            origins[node] = origin;

        var section = root;
        for (int i = 0; i < segments.Length; i++)
        {
            string segment = segments[i].Trim();
            var entry = section.Children.FirstOrDefault(kv => kv.Key is YamlScalarNode { Value: var k } && k == segment);
            if (i == segments.Length - 1)
            {
                if (entry.Key is not null)
                {
                    section.Children[entry.Key] = value;
                }
                else
                {
                    var keyNode = new YamlScalarNode(segment);
                    origins[keyNode] = origin;
                    section.Children.Add(keyNode, value);
                }
                break;
            }

            switch (entry.Value)
            {
                case YamlMappingNode child:
                    section = child;
                    break;
                case null:
                case YamlScalarNode scalar when RecipeScalars.IsNull(scalar):
                    var created = new YamlMappingNode();
                    origins[created] = origin;
                    if (entry.Key is null)
                    {
                        var keyNode = new YamlScalarNode(segment);
                        origins[keyNode] = origin;
                        section.Children.Add(keyNode, created);
                    }
                    else
                    {
                        section.Children[entry.Key] = created;
                    }
                    section = created;
                    break;
                default:
                    string prefix = string.Join('.', segments[..(i + 1)].Select(s => s.Trim()));
                    return $"{origin}: cannot set '{key}' because '{prefix}' is {RecipeBinder.Describe(entry.Value)}, "
                        + "not a section";
            }
        }
        return null;
    }

    /// <summary>
    /// A YAML scalar or flow value. Text that is not valid YAML and does not try to be a flow collection
    /// (e.g. *.parquet, which YAML would read as an alias) is taken as a plain string.
    /// </summary>
    private static YamlNode ParseValue(string text)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (Exception e) when (e is YamlException or InvalidOperationException
            && !text.StartsWith('[') && !text.StartsWith('{'))
        {
            return new YamlScalarNode(text) { Style = ScalarStyle.Plain };
        }
        catch (InvalidOperationException e)
        {
            throw new YamlException(Mark.Empty, Mark.Empty, $"'{text}' is not a complete flow value (is a ']' or '}}' missing?)", e);
        }
        return stream.Documents.Count == 0
            ? new YamlScalarNode(string.Empty) { Style = ScalarStyle.Plain }
            : stream.Documents[0].RootNode;
    }
}
