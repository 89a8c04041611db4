using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Models.Weights;

/// <summary>
/// Checked, all-or-nothing loading of Hugging Face-named tensors for the encoder layouts (BERT, ViT, MAE): names are
/// normalised to the prefix-free form, then missing, unexpected, mis-shaped and non-float tensors are reported
/// together in one <see cref="WeightsException"/> before anything is copied.
/// </summary>
internal static class HfEncoderLoader
{
    /// <summary>Tensor names with the backbone prefix removed; a name given both ways is a problem.</summary>
    public static Dictionary<string, Tensor> StripPrefix(IReadOnlyDictionary<string, Tensor> hf, string prefix, List<string> problems)
    {
        var byName = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, tensor) in hf)
        {
            var bare = name.StartsWith(prefix, StringComparison.Ordinal) ? name[prefix.Length..] : name;
            if (!byName.TryAdd(bare, tensor))
                problems.Add($"'{bare}' is given both with and without the '{prefix}' prefix");
        }
        return byName;
    }

    /// <summary>
    /// Checks then copies. <paramref name="skip"/> says which extra names are left out on purpose (another head's
    /// weights, HF buffers); those are returned, sorted.
    /// </summary>
    public static IReadOnlyList<string> Load(string what, IReadOnlyList<HfEntry> entries, Dictionary<string, Tensor> byName,
        Func<string, bool> skip, List<string> problems, string hint)
    {
        var expected = entries.Select(e => e.HfName).ToHashSet(StringComparer.Ordinal);
        var missing = entries.Where(e => !e.Fixed && !byName.ContainsKey(e.HfName)).Select(e => e.HfName).ToList();
        var skipped = byName.Keys.Where(n => !expected.Contains(n) && skip(n)).Order(StringComparer.Ordinal).ToList();
        var unexpected = byName.Keys.Where(n => !expected.Contains(n) && !skip(n)).Order(StringComparer.Ordinal).ToList();
        foreach (var e in entries.Where(e => byName.ContainsKey(e.HfName)))
        {
            var actual = byName[e.HfName];
            if (!actual.shape.SequenceEqual(e.Target.shape))
                problems.Add($"'{e.HfName}' has shape [{string.Join(", ", actual.shape)}], the model needs [{string.Join(", ", e.Target.shape)}]");
            else if (!actual.is_floating_point())
                problems.Add($"'{e.HfName}' has dtype {actual.dtype}, not a floating-point type");
            else if (e.Fixed && !Close(actual, e.Target) && !CloseInBf16(actual, e.Target))
                problems.Add($"'{e.HfName}' differs from the fixed sin-cos table this model computes: the checkpoint has trained positions (use pos_embed learned)");
        }
        if (unexpected.Count > 0)
            problems.Insert(0, "unexpected: " + List(unexpected));
        if (missing.Count > 0)
            problems.Insert(0, "missing: " + List(missing));
        if (problems.Count > 0)
            throw new WeightsException($"The Hugging Face {what} weights do not fit this model: {string.Join("; ", problems)}. {hint}");

        using var _ = torch.no_grad();
        foreach (var e in entries.Where(e => !e.Fixed))
            e.Target.copy_(byName[e.HfName]);
        return skipped;
    }

    /// <summary>Whether two tensors hold the same values to float32 rounding.</summary>
    public static bool Close(Tensor a, Tensor b)
    {
        if (!a.shape.SequenceEqual(b.shape))
            return false;
        using var a32 = a.to(ScalarType.Float32, b.device);
        using var b32 = b.to_type(ScalarType.Float32);
        return a32.allclose(b32, 1e-5, 1e-5);
    }

    /// <summary>
    /// Whether <paramref name="saved"/> is <paramref name="table"/> rounded to bf16: a fixed table written by a
    /// train.precision bf16 run (its buffers are bf16; the checkpoint holds them upcast to fp32).
    /// </summary>
    private static bool CloseInBf16(Tensor saved, Tensor table)
    {
        using var rounded = table.to_type(ScalarType.BFloat16);
        return Close(saved, rounded);
    }

    private static string List(List<string> names) =>
        string.Join(", ", names.Take(20)) + (names.Count > 20 ? $" and {names.Count - 20} more" : "");
}
