using System.Text;
using System.Text.Json.Nodes;

namespace Pretrain.Fuzz;

/// <summary>Mutations shared by the targets: bytes, integers that matter, text lines, JSON values.</summary>
public static class Mutate
{
    /// <summary>Values that break size arithmetic: signs, powers of two and their neighbours, type limits.</summary>
    public static readonly long[] Interesting =
    [
        0, 1, -1, 2, 3, 7, 8, 15, 16, 255, 256, 1023, 1024, 65535, 65536, int.MaxValue, int.MinValue, (long)int.MaxValue + 1,
        uint.MaxValue, long.MaxValue, long.MinValue, long.MaxValue / 2, 1L << 31, 1L << 32, 1L << 40, 1L << 53, -(1L << 31),
        400_000_000, 1_000_000_000_000, 10_000_000,
    ];

    public static long Integer(Random r, long current) => r.Next(4) switch
    {
        0 => Interesting[r.Next(Interesting.Length)],
        1 => current + r.Next(-16, 17),
        2 => current * (r.Next(2) == 0 ? 2 : -1),
        _ => r.NextInt64(long.MinValue, long.MaxValue),
    };

    /// <summary>Flips, overwrites, inserts, deletes, truncates or duplicates bytes (1–4 edits).</summary>
    public static byte[] Bytes(Random r, byte[] data)
    {
        var d = new List<byte>(data);
        for (int edits = r.Next(1, 5); edits > 0; edits--)
        {
            int at = d.Count == 0 ? 0 : r.Next(d.Count);
            switch (r.Next(7))
            {
                case 0 when d.Count > 0: d[at] ^= (byte)(1 << r.Next(8)); break;
                case 1 when d.Count > 0: d[at] = (byte)r.Next(256); break;
                case 2: d.Insert(at, (byte)r.Next(256)); break;
                case 3 when d.Count > 0: d.RemoveRange(at, Math.Min(d.Count - at, r.Next(1, 64))); break;
                case 4: d.RemoveRange(at, d.Count - at); break;
                case 5 when d.Count > 0: d.InsertRange(at, d.GetRange(at, Math.Min(d.Count - at, r.Next(1, 64)))); break;
                case 6 when d.Count >= 4: d[at] = d[at] is 0 ? (byte)0xFF : (byte)0; break;
            }
        }

        return [.. d];
    }

    /// <summary>Line edits (delete, duplicate, swap, insert a hostile line) on text.</summary>
    public static string Lines(Random r, string text, IReadOnlyList<string> hostile)
    {
        var lines = text.Split('\n').ToList();
        for (int edits = r.Next(1, 4); edits > 0; edits--)
        {
            int at = r.Next(lines.Count);
            switch (r.Next(5))
            {
                case 0 when lines.Count > 1: lines.RemoveAt(at); break;
                case 1: lines.Insert(at, lines[at]); break;
                case 2: (lines[at], lines[^1]) = (lines[^1], lines[at]); break;
                case 3: lines.Insert(at, hostile[r.Next(hostile.Count)]); break;
                case 4: lines[at] = Splice(r, lines[at], hostile[r.Next(hostile.Count)]); break;
            }
        }

        return string.Join('\n', lines);
    }

    /// <summary>Replaces a random span of <paramref name="s"/> with <paramref name="insert"/>.</summary>
    public static string Splice(Random r, string s, string insert)
    {
        int at = r.Next(s.Length + 1);
        int cut = r.Next(Math.Min(8, s.Length - at) + 1);
        return s[..at] + insert + s[(at + cut)..];
    }

    /// <summary>Changes one value of a JSON document: numbers to extremes, strings to odd text, shapes emptied.</summary>
    public static string Json(Random r, string json, IReadOnlyList<string> strings)
    {
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(json);
        }
        catch (System.Text.Json.JsonException)
        {
            return Encoding.UTF8.GetString(Bytes(r, Encoding.UTF8.GetBytes(json)));
        }

        var nodes = new List<JsonNode>();
        Collect(root, nodes);
        if (nodes.Count == 0)
            return json;
        var node = nodes[r.Next(nodes.Count)];
        JsonNode? replacement = r.Next(6) switch
        {
            0 => JsonValue.Create(Interesting[r.Next(Interesting.Length)]),
            1 => JsonValue.Create(strings[r.Next(strings.Count)]),
            2 => new JsonArray(),
            3 => new JsonObject(),
            4 => null,
            _ => JsonValue.Create(r.NextDouble() < 0.5 ? double.MaxValue : -0.5),
        };
        if (node.Parent is JsonObject o)
        {
            string key = node.GetPropertyName();
            if (r.Next(8) == 0)
                o.Remove(key);
            else
                o[key] = replacement;
        }
        else if (node.Parent is JsonArray a)
        {
            int i = node.GetElementIndex();
            if (r.Next(4) == 0)
                a.RemoveAt(i);
            else
                a[i] = replacement;
        }
        else
        {
            return replacement?.ToJsonString() ?? "null";
        }

        return root!.ToJsonString();
    }

    private static void Collect(JsonNode? node, List<JsonNode> into)
    {
        if (node is null)
            return;
        if (node.Parent is not null)
            into.Add(node);
        if (node is JsonObject o)
        {
            foreach (var (_, child) in o)
                Collect(child, into);
        }
        else if (node is JsonArray a)
        {
            foreach (var child in a)
                Collect(child, into);
        }
    }
}
