using System.Collections;
using System.Text;

namespace Pretrain.Training.Recipes;

/// <summary>
/// A recipe record → YAML: every key in declaration order with its effective value (defaults and nulls included),
/// sections as block mappings, lists in flow style. The output parses back to an equal recipe.
/// </summary>
internal static class RecipeYamlWriter
{
    public static string Write(object record)
    {
        var sb = new StringBuilder();
        WriteSection(sb, record, indent: 0);
        return sb.ToString();
    }

    private static void WriteSection(StringBuilder sb, object section, int indent)
    {
        foreach (var p in RecipeSchema.Properties(section.GetType()))
        {
            object? value = p.Info.GetValue(section);
            sb.Append(' ', indent).Append(p.Key).Append(':');
            if (value is not null && RecipeSchema.IsSection(p.ValueType))
            {
                sb.Append('\n');
                WriteSection(sb, value, indent + 2);
            }
            else
            {
                sb.Append(' ').Append(FormatValue(value)).Append('\n');
            }
        }
    }

    private static string FormatValue(object? value) => value switch
    {
        null or string => RecipeScalars.Format(value),
        IEnumerable items => "[" + string.Join(", ", items.Cast<object?>().Select(FormatValue)) + "]",
        _ when RecipeSchema.IsSection(value.GetType()) => FlowSection(value),
        _ => RecipeScalars.Format(value),
    };

    /// <summary>A section inside a list (data.train.mix items) as a flow mapping: {files: [a], weight: 0.7}.</summary>
    private static string FlowSection(object section) =>
        "{" + string.Join(", ", RecipeSchema.Properties(section.GetType()).Select(p => $"{p.Key}: {FormatValue(p.Info.GetValue(section))}")) + "}";
}
