using System.Text.Json;
using System.Text.RegularExpressions;

namespace Pretrain.Data.Text.HuggingFace;

/// <summary>Reading tokenizer.json components: typed fields with defaults, and one error form for what is not understood.</summary>
internal static class HfJson
{
    public static string? Str(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    public static bool Bool(JsonElement e, string name, bool fallback) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind is JsonValueKind.True or JsonValueKind.False
            ? v.GetBoolean() : fallback;

    public static int Int(JsonElement e, string name, int fallback) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.TryGetInt32(out int i) ? i : fallback;

    /// <summary>The component's <c>type</c>; an error naming <paramref name="section"/> when it has none.</summary>
    public static string Type(JsonElement e, string section, string file) =>
        Str(e, "type") ?? throw new DataException($"{file}: a {section} has no \"type\" ({Short(e)}).");

    /// <summary>The array <paramref name="name"/> of a Sequence.</summary>
    public static IEnumerable<JsonElement> Array(JsonElement e, string name, string file) =>
        e.TryGetProperty(name, out var a) && a.ValueKind == JsonValueKind.Array
            ? a.EnumerateArray()
            : throw new DataException($"{file}: a Sequence needs the array \"{name}\" ({Short(e)}).");

    /// <summary>A <c>pattern</c> field: <c>{"String": s}</c> (literal) or <c>{"Regex": r}</c>.</summary>
    public static (string? Literal, HfRegex? Regex) Pattern(JsonElement e, string file)
    {
        if (e.TryGetProperty("pattern", out var p) && p.ValueKind == JsonValueKind.Object)
        {
            if (Str(p, "String") is { } s)
            {
                return (s, null);
            }

            if (Str(p, "Regex") is { } r)
            {
                return (null, new HfRegex(r, file));
            }
        }

        throw new DataException($"{file}: a pattern must be {{\"String\": …}} or {{\"Regex\": …}} ({Short(e)}).");
    }

    /// <summary>A literal pattern as a regex (for splitting).</summary>
    public static HfRegex AsRegex((string? Literal, HfRegex? Regex) pattern, string file) =>
        pattern.Regex ?? new HfRegex(Regex.Escape(pattern.Literal!), file);

    public static DataException Unsupported(string file, string section, string type, string supported) =>
        new($"{file}: {section} type '{type}' is not supported here (supported: {supported}); " +
            "this tokenizer.json cannot be used with tokenizer.kind hf-json.");

    private static string Short(JsonElement e)
    {
        string raw = e.GetRawText();
        return raw.Length <= 120 ? raw : raw[..120] + "…";
    }
}
