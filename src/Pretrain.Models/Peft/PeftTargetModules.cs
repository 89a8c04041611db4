using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Pretrain.Models.Peft;

/// <summary>
/// Writes a model's LoRA targets as PEFT's <c>target_modules</c>. PEFT matches a list entry against a module path by
/// equality or as a dotted suffix, and a string as a regular expression over the whole path. Each of our targets is
/// written as the shortest Hugging Face suffix that matches exactly the targeted projections (<c>q_proj</c> →
/// <c>query</c> for BERT, <c>c_attn</c> for GPT-2's fused q/k/v, <c>attn.c_proj</c> when only GPT-2's attention output is
/// targeted); when no suffix can tell the projections apart (BERT's <c>output.dense</c> is also the tail of
/// <c>attention.output.dense</c>) the whole set is written as one regular expression with the block indices in it.
/// </summary>
internal static class PeftTargetModules
{
    /// <summary>The <c>target_modules</c> value and whether <c>layers_to_transform</c> should accompany it (list form).</summary>
    public static (JsonNode Value, bool ListForm) For(string arch, LoraConfig lora)
    {
        var targeted = lora.Targets.Select(t => PeftArch.InBlock(arch, t)).Distinct(StringComparer.Ordinal).ToList();
        var all = PeftArch.Projections(arch).Select(t => PeftArch.InBlock(arch, t)).Distinct(StringComparer.Ordinal).ToList();
        var others = PeftArch.OtherLinears(arch).ToList();
        var names = new List<string>();
        foreach (var path in targeted)
        {
            var parts = path.Split('.');
            string? chosen = null;
            for (var k = 1; k <= parts.Length && chosen is null; k++)
            {
                var suffix = string.Join('.', parts[^k..]);
                var fine = all.Where(p => Matches(p, suffix)).All(targeted.Contains) && !others.Any(o => Matches(o, suffix));
                if (fine)
                    chosen = suffix;
            }
            if (chosen is null)
                return (Regex(arch, lora, targeted), false);
            names.Add(chosen);
        }
        var array = new JsonArray();
        foreach (var n in names.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal))
            array.Add(n);
        return (array, true);
    }

    /// <summary>
    /// Our target names from a PEFT <c>target_modules</c> list (the inverse of <see cref="For"/> for list form):
    /// every projection of the architecture whose Hugging Face path one of the entries matches.
    /// </summary>
    public static List<string> Ours(string arch, IEnumerable<string> hfNames)
    {
        var names = hfNames.ToList();
        return [.. PeftArch.Projections(arch).Where(t => names.Any(n => Matches(PeftArch.InBlock(arch, t), n)))];
    }

    private static bool Matches(string path, string suffix) =>
        path == suffix || path.EndsWith("." + suffix, StringComparison.Ordinal);

    private static JsonValue Regex(string arch, LoraConfig lora, List<string> targeted)
    {
        var layers = lora.Layers is null ? @"\d+" : "(?:" + string.Join('|', lora.Layers.Order()) + ")";
        var modules = string.Join('|', targeted.Select(t => System.Text.RegularExpressions.Regex.Escape(t)));
        var block = System.Text.RegularExpressions.Regex.Escape(PeftArch.BlockPrefix(arch));
        return JsonValue.Create($"(?:.*\\.)?{block}{layers}\\.(?:{modules})");
    }
}
