using System.Text.Json;
using System.Text.Json.Nodes;

namespace Pretrain.Models.Weights;

/// <summary>Typed reads of config.json values; a value of the wrong type is a <see cref="WeightsException"/> naming the key.</summary>
internal static class HfJson
{
    public static int Int(JsonObject json, string key, string type) =>
        OptInt(json, key) ?? throw new WeightsException($"config.json has no '{key}', which model_type {type} needs.");

    public static int? OptInt(JsonObject? json, string key) => Get(json, key, (JsonElement e) => e.GetInt32());

    public static double? Num(JsonObject? json, string key) => Get(json, key, (JsonElement e) => e.GetDouble());

    public static bool? Bool(JsonObject? json, string key) => Get(json, key, (JsonElement e) => e.GetBoolean());

    public static string? Str(JsonObject? json, string key) => json?[key] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    private static T? Get<T>(JsonObject? json, string key, Func<JsonElement, T> read) where T : struct
    {
        if (json?[key] is not JsonNode node)
            return null;
        try
        {
            using var doc = JsonDocument.Parse(node.ToJsonString());
            return read(doc.RootElement);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        {
            throw new WeightsException($"config.json '{key}' has value {node.ToJsonString()}, which is not a {typeof(T).Name}.", e);
        }
    }
}
