using System.Text.RegularExpressions;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pretrain.Models.Peft;

/// <summary>
/// Whole-model LoRA operations on any module tree that holds <see cref="LoraLinear"/> layers (DecoderLm, EncoderLm,
/// VisionTransformer, or a head beside them): freezing the base, merging and unmerging, counting what trains, and a
/// full-weights export with the adapters merged.
/// </summary>
public static class LoraModel
{
    /// <summary>Every LoRA layer with its module path (e.g. <c>blocks.0.attn.q_proj</c>), in module order.</summary>
    public static List<(string Name, LoraLinear Layer)> Layers(nn.Module model) =>
        [.. model.named_modules().Where(m => m.module is LoraLinear).Select(m => (m.name, (LoraLinear)m.module))];

    /// <summary>
    /// Freezes everything except the LoRA matrices (<c>lora_a</c>, <c>lora_b</c>) and the parameters whose name
    /// matches one of <paramref name="trainable"/>: glob patterns over parameter names where <c>*</c> matches any
    /// run of characters (dots included) and <c>?</c> one character, e.g. <c>"classifier.*"</c>, <c>"*norm*"</c>,
    /// <c>"lm_head.weight"</c>. Sets requires_grad accordingly and returns the number of trainable elements.
    /// </summary>
    public static long FreezeBase(nn.Module model, params string[] trainable)
    {
        var patterns = trainable.Select(Glob).ToList();
        foreach (var (name, p) in model.named_parameters())
            p.requires_grad = LoraLinear.IsAdapterParameter(name) || patterns.Any(r => r.IsMatch(name));
        return TrainableParameterCount(model);
    }

    /// <summary>The parameters that will train (requires_grad), with their names: what an optimizer should get.</summary>
    public static List<(string Name, Parameter Param)> TrainableParameters(nn.Module model) =>
        [.. model.named_parameters().Where(p => p.parameter.requires_grad).Select(p => (p.name, p.parameter))];

    /// <summary>Number of trainable (requires_grad) parameter elements.</summary>
    public static long TrainableParameterCount(nn.Module model) =>
        model.parameters().Where(p => p.requires_grad).Sum(p => p.numel());

    /// <summary>
    /// QLoRA: quantizes the frozen base weight of every LoRA layer (<see cref="LoraLinear.QuantizeBase"/>, "int8" or
    /// "nf4"; "none" does nothing). Returns the bytes the quantized weights take and the float32 bytes they replaced.
    /// </summary>
    public static (long QuantizedBytes, long Fp32Bytes) QuantizeBase(nn.Module model, string kind)
    {
        long quantized = 0, full = 0;
        if (kind == "none")
            return (0, 0);
        foreach (var (_, layer) in Layers(model))
        {
            full += 4 * layer.Weight.numel();
            layer.QuantizeBase(kind);
            quantized += layer.QuantizedBase!.Bytes;
        }
        return (quantized, full);
    }

    /// <summary>Folds every adapter into its base weight (<see cref="LoraLinear.Merge"/>); already merged ones are left.</summary>
    public static void MergeAll(nn.Module model)
    {
        foreach (var (_, layer) in Layers(model))
            layer.Merge();
    }

    /// <summary>Takes every merged adapter out of its base weight again (<see cref="LoraLinear.Unmerge"/>).</summary>
    public static void UnmergeAll(nn.Module model)
    {
        foreach (var (_, layer) in Layers(model))
            layer.Unmerge();
    }

    /// <summary>
    /// Full-model weights with the adapters merged: merges, runs <paramref name="export"/> (e.g.
    /// <c>() =&gt; HfDecoderLayout.ToHf(model)</c>, which leaves the LoRA matrices out), copies what it returns, then
    /// puts the base weights back bit-exactly. A base held in bf16 is merged in an fp32 copy (the held weight is not
    /// touched), so the export is fp32. The model is unchanged afterwards; the caller owns the copies.
    /// </summary>
    public static Dictionary<string, Tensor> ExportMerged(nn.Module model, Func<Dictionary<string, Tensor>> export)
    {
        var layers = Layers(model).Select(l => l.Layer).Where(l => !l.Merged).ToList();
        var saved = new List<Tensor>();
        var held = new List<(LoraLinear Layer, Parameter Weight)>();   // lower-precision bases, swapped for fp32 copies
        try
        {
            foreach (var layer in layers)
            {
                if (layer.Weight.dtype != ScalarType.Float32 && layer.Weight.is_floating_point())
                {
                    // A bf16 base (lora.base_dtype): fold s·B·A into an fp32 copy, or the update is lost to bf16's rounding.
                    using var data = layer.Weight.detach();
                    held.Add((layer, layer.SwapWeight(new Parameter(data.to_type(ScalarType.Float32), requires_grad: false))));
                }
                saved.Add(layer.Weight.detach().clone());
                layer.Merge();
            }
            var views = export();
            var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            foreach (var (name, t) in views)
            {
                result[name] = t.detach().clone();
                t.Dispose();
            }
            return result;
        }
        finally
        {
            for (var i = 0; i < saved.Count; i++)
            {
                layers[i].RestoreUnmerged(saved[i]);
                saved[i].Dispose();
            }
            foreach (var (layer, weight) in held)
                layer.SwapWeight(weight).Dispose();
        }
    }

    internal static Regex Glob(string pattern) =>
        new("^" + Regex.Escape(pattern).Replace(@"\*", ".*", StringComparison.Ordinal).Replace(@"\?", ".", StringComparison.Ordinal) + "$",
            RegexOptions.CultureInvariant);
}
