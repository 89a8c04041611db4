using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Pretrain.Training.Recipes;

/// <summary>
/// Reading and writing YAML scalars the way recipes use them: YAML 1.2 core-schema nulls, booleans and numbers,
/// invariant culture, and strings quoted only when a plain scalar would read back as something else.
/// </summary>
internal static partial class RecipeScalars
{
    /// <summary>A plain ~, null or empty value (a quoted "null" is the string null).</summary>
    public static bool IsNull(YamlScalarNode node) =>
        node.Style is ScalarStyle.Plain or ScalarStyle.Any
        && node.Value is null or "" or "~" or "null" or "Null" or "NULL";

    public static bool TryParseLong(string text, out long value) =>
        long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value);

    /// <summary>Decimal numbers with optional exponent (6e-4, 1E-08), and .inf / -.inf / .nan.</summary>
    public static bool TryParseDouble(string text, out double value)
    {
        switch (text)
        {
            case ".inf" or ".Inf" or ".INF" or "+.inf" or "+.Inf" or "+.INF":
                value = double.PositiveInfinity;
                return true;
            case "-.inf" or "-.Inf" or "-.INF":
                value = double.NegativeInfinity;
                return true;
            case ".nan" or ".NaN" or ".NAN":
                value = double.NaN;
                return true;
        }
        // No thousands separators, no hex, no leading/trailing blanks: only what YAML calls a float.
        if (NumberRegex().IsMatch(text))
            return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value);
        value = 0;
        return false;
    }

    public static bool TryParseBool(string text, out bool value)
    {
        switch (text)
        {
            case "true" or "True" or "TRUE":
                value = true;
                return true;
            case "false" or "False" or "FALSE":
                value = false;
                return true;
            default:
                value = false;
                return false;
        }
    }

    /// <summary>The YAML text of a scalar value (null, bool, number or string).</summary>
    public static string Format(object? value) => value switch
    {
        null => "null",
        bool b => b ? "true" : "false",
        int i => i.ToString(CultureInfo.InvariantCulture),
        long l => l.ToString(CultureInfo.InvariantCulture),
        double d => FormatDouble(d),
        string s => FormatString(s),
        _ => throw new ArgumentException($"No YAML form for {value.GetType().Name}.", nameof(value)),
    };

    private static string FormatDouble(double d)
    {
        if (double.IsNaN(d))
            return ".nan";
        if (double.IsInfinity(d))
            return d > 0 ? ".inf" : "-.inf";
        // Shortest round-trip form; keep a '.0' on integral values so readers see a float.
        string s = d.ToString("R", CultureInfo.InvariantCulture).Replace("E", "e", StringComparison.Ordinal);
        return s.Contains('.', StringComparison.Ordinal) || s.Contains('e', StringComparison.Ordinal) ? s : s + ".0";
    }

    private static string FormatString(string s)
    {
        bool plainIsSafe = PlainRegex().IsMatch(s)
            && !IsNull(new YamlScalarNode(s) { Style = ScalarStyle.Plain })
            && !TryParseBool(s, out _)
            && !TryParseDouble(s, out _)
            && !TryParseLong(s, out _);
        if (plainIsSafe)
            return s;
        var sb = new StringBuilder(s.Length + 2).Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (char.IsControl(c))
                        sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else
                        sb.Append(c);
                    break;
            }
        }
        return sb.Append('"').ToString();
    }

    [GeneratedRegex(@"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")]
    private static partial Regex NumberRegex();

    // Safe as a plain scalar in block and flow context: starts with no YAML indicator, holds no ': ', ' #', ',', brackets.
    [GeneratedRegex(@"^[A-Za-z0-9_./<(~][A-Za-z0-9_./<>|*+=~@()-]*$")]
    private static partial Regex PlainRegex();
}
