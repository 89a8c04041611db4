namespace Pretrain.Models.Peft;

/// <summary>
/// Recipe target names → our projection names. A target is one of ours (<c>q_proj</c>, …) or a Hugging Face module
/// name of the architecture, matched as PEFT matches <c>target_modules</c> entries: equal to a projection's path inside
/// the block or a dotted suffix of it (ViT/BERT <c>query</c> → <c>q_proj</c>, <c>value</c> → <c>v_proj</c>,
/// <c>attention.output.dense</c> → <c>o_proj</c>; GPT-2 <c>c_attn</c> → q, k and v).
/// </summary>
public static class LoraTargets
{
    /// <summary>Whether <paramref name="name"/> names at least one projection of <paramref name="arch"/> (any arch for our own names).</summary>
    public static bool IsKnown(string arch, string name) =>
        LoraConfig.KnownTargets.Contains(name, StringComparer.Ordinal) || (IsArch(arch) && Map(arch, name).Count > 0);

    /// <summary>Our names for <paramref name="names"/> in <paramref name="arch"/>, in <see cref="LoraConfig.KnownTargets"/> order, without repeats.</summary>
    /// <exception cref="ArgumentException">A name matches no projection.</exception>
    public static IReadOnlyList<string> Normalize(string arch, IEnumerable<string> names)
    {
        var ours = new HashSet<string>(StringComparer.Ordinal);
        foreach (var n in names)
        {
            if (LoraConfig.KnownTargets.Contains(n, StringComparer.Ordinal))
            {
                ours.Add(n);
                continue;
            }
            var mapped = IsArch(arch) ? Map(arch, n) : [];
            if (mapped.Count == 0)
                throw new ArgumentException($"lora.targets names '{n}', which is neither one of our projections ({string.Join(", ", LoraConfig.KnownTargets)}) nor a {arch} module name.");
            ours.UnionWith(mapped);
        }
        return [.. LoraConfig.KnownTargets.Where(ours.Contains)];
    }

    /// <summary>The short Hugging Face names of the architecture's projections (for messages): <c>query</c>, <c>key</c>, …</summary>
    public static IReadOnlyList<string> HfNames(string arch) => IsArch(arch)
        ? [.. PeftArch.Projections(arch).Select(t => PeftArch.InBlock(arch, t)).Distinct(StringComparer.Ordinal)]
        : [];

    private static bool IsArch(string arch) => arch is "gpt2" or "llama" or "bert" or "vit";

    private static List<string> Map(string arch, string name) => PeftTargetModules.Ours(arch, [name]);
}
