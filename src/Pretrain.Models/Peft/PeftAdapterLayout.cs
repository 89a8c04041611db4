using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Pretrain.Models.Heads;
using Pretrain.Models.Text;
using Pretrain.Models.Vision;
using Pretrain.Models.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Models.Peft;

/// <summary>
/// LoRA adapters in Hugging Face PEFT's layout: <c>adapter_model.safetensors</c> with
/// <c>base_model.model.&lt;Hugging Face module path&gt;.lora_A.weight</c> [r, in] and <c>.lora_B.weight</c> [out, r]
/// (plus modules_to_save tensors under <c>base_model.model.&lt;Hugging Face tensor name&gt;</c>), and
/// <c>adapter_config.json</c> (peft_type LORA, r, lora_alpha, target_modules in Hugging Face names…, and our
/// <c>pretrain</c> extras: arch, our targets and layers, the base weights' sha256).
/// GPT-2 fuses q, k, v into one Conv1D <c>c_attn</c>, which PEFT adapts with one A and one B. Our q/k/v adapters are
/// separate, so they are written as one exactly equivalent adapter of rank |S|·r for the targeted set S:
/// A = [A_q; A_k; A_v] and a block-diagonal B (zero rows for an untargeted projection), with <c>rank_pattern</c> and
/// <c>alpha_pattern</c> for c_attn so that PEFT's scale equals ours. Reading accepts that form and PEFT's own
/// shared-A form (A [r, in], B [3·d, r]: each of q, k, v gets A and its rows of B).
/// </summary>
public static class PeftAdapterLayout
{
    /// <summary>The adapter weights file name.</summary>
    public const string WeightsFile = "adapter_model.safetensors";

    /// <summary>The adapter config file name.</summary>
    public const string ConfigFile = "adapter_config.json";

    /// <summary>Writes the adapters of a LoRA decoder into <paramref name="dir"/> (created when missing).</summary>
    public static void Save(string dir, DecoderLm model, PeftAdapterOptions? options = null) =>
        SaveAny(dir, model, null, options ?? new());

    /// <summary>Writes the adapters of a LoRA encoder (and a classifier head, whole) into <paramref name="dir"/>.</summary>
    public static void Save(string dir, EncoderLm model, ClassifierHead? classifier = null, PeftAdapterOptions? options = null) =>
        SaveAny(dir, model, classifier, options ?? new());

    /// <summary>Writes the adapters of a LoRA ViT (and a classifier head, whole) into <paramref name="dir"/>.</summary>
    public static void Save(string dir, VisionTransformer model, ClassifierHead? classifier = null, PeftAdapterOptions? options = null) =>
        SaveAny(dir, model, classifier, options ?? new());

    /// <summary>
    /// Loads an adapter folder onto a decoder built with a matching <see cref="LoraConfig"/>. All or nothing: names,
    /// shapes and scales are checked first and every problem is reported in one <see cref="WeightsException"/>, with
    /// the model untouched. When the adapter records its base's sha256 and <paramref name="baseWeightsFile"/> is given,
    /// a different base is refused unless <paramref name="force"/>.
    /// </summary>
    public static void Load(string dir, DecoderLm model, string? baseWeightsFile = null, bool force = false) =>
        PeftAdapterReader.Load(dir, model, null, baseWeightsFile, force);

    /// <summary>Loads an adapter folder onto a LoRA encoder (and its classifier head); see the decoder overload.</summary>
    public static void Load(string dir, EncoderLm model, ClassifierHead? classifier = null, string? baseWeightsFile = null, bool force = false) =>
        PeftAdapterReader.Load(dir, model, classifier, baseWeightsFile, force);

    /// <summary>Loads an adapter folder onto a LoRA ViT (and its classifier head); see the decoder overload.</summary>
    public static void Load(string dir, VisionTransformer model, ClassifierHead? classifier = null, string? baseWeightsFile = null, bool force = false) =>
        PeftAdapterReader.Load(dir, model, classifier, baseWeightsFile, force);

    /// <summary>
    /// The <see cref="LoraConfig"/> an adapter folder was made with, to build the model it loads onto: from our
    /// <c>pretrain</c> extras when present, else from PEFT's r, lora_alpha, lora_dropout, use_rslora,
    /// layers_to_transform and a target_modules list read for <paramref name="arch"/> (gpt2, llama, bert, vit).
    /// </summary>
    public static LoraConfig ReadConfig(string dir, string? arch = null) => PeftAdapterReader.ReadConfig(dir, arch);

    /// <summary>The sha256 of a file, lower-case hex, read in a stream.</summary>
    public static string Sha256File(string path)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
            return Convert.ToHexStringLower(SHA256.HashData(stream));
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException)
        {
            throw new WeightsException($"Cannot read base weights file {path}: {e.Message}", e);
        }
    }

    internal const string Prefix = "base_model.model.";

    /// <summary>PEFT's name for DoRA's magnitude in adapter files: <c>&lt;module&gt;.lora_magnitude_vector</c> [out].</summary>
    internal const string MagnitudeKey = "lora_magnitude_vector";

    /// <summary>‖W‖ per output row (out,), float32: DoRA's m for a weight without an update.</summary>
    internal static Tensor RowNorms(Tensor weight)
    {
        using var _ = torch.no_grad();
        using var w = weight.to_type(ScalarType.Float32);
        using var squares = w.square();
        using var sum = squares.sum(1);
        return sum.sqrt();
    }

    private static void SaveAny(string dir, nn.Module model, ClassifierHead? classifier, PeftAdapterOptions options)
    {
        var arch = PeftArch.Of(model);
        var lora = PeftArch.Lora(model)
            ?? throw new WeightsException($"The {arch} model has no LoRA layers: build it with a LoraConfig to save an adapter.");
        using var scope = torch.NewDisposeScope();
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var patterns = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var group in PeftArch.Groups(model, arch))
        {
            var targeted = group.Targeted.ToList();
            foreach (var part in targeted)
                part.Layer!.EnsureMagnitude(); // DoRA's m as the forward would start it, when no forward has run yet
            Tensor a, b;
            Tensor? m = null;
            if (!group.Fused)
            {
                var layer = targeted[0].Layer!;
                (a, b, m) = (layer.LoraA, layer.LoraB, layer.Magnitude);
            }
            else
            {
                // Fused module (GPT-2 c_attn, Phi-3 qkv_proj / gate_up_proj): rank |S|·r, A stacked, B block-diagonal
                // over the targeted parts' row blocks, zero rows for the untargeted parts.
                var r = lora.Rank;
                a = torch.cat(targeted.Select(p => (Tensor)p.Layer!.LoraA).ToArray(), 0);                // (|S|·r, in)
                b = torch.zeros(group.Rows, targeted.Count * r, dtype: a.dtype, device: a.device);       // (Σ rows, |S|·r)
                for (var j = 0; j < targeted.Count; j++)
                    b[TensorIndex.Slice(targeted[j].Offset, targeted[j].Offset + targeted[j].Rows), TensorIndex.Slice(j * r, (j + 1) * r)] = targeted[j].Layer!.LoraB.detach();
                patterns[group.HfPath[(group.HfPath.LastIndexOf('.') + 1)..]] = targeted.Count;
                if (lora.UseDora)
                {
                    // DoRA's m over the fused rows; an untargeted part keeps its rows' norms, so PEFT's m/‖W‖ is 1 there.
                    using var _ = torch.no_grad();
                    m = torch.cat(group.Parts.Select(p => p.Layer?.Magnitude?.detach() ?? RowNorms(p.FrozenWeight!)).ToArray(), 0); // (Σ rows,)
                }
            }
            tensors[$"{Prefix}{group.HfPath}.lora_A.weight"] = a.detach();
            tensors[$"{Prefix}{group.HfPath}.lora_B.weight"] = b.detach();
            if (m is not null)
                tensors[$"{Prefix}{group.HfPath}.{MagnitudeKey}"] = m.detach();
        }
        var modulesToSave = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var t in ModulesToSave(model, classifier, options.ModulesToSave))
        {
            tensors[Prefix + t.HfName] = t.Transposed ? t.Target!.detach().t() : t.Target!.detach();
            modulesToSave.Add(t.IsHead ? t.HfName[..t.HfName.IndexOf('.')] : t.HfName[..t.HfName.LastIndexOf('.')]);
        }

        var sha = options.BaseSha256 ?? (options.BaseWeightsFile is null ? null : Sha256File(options.BaseWeightsFile));
        var json = PeftAdapterConfig.ToJson(arch, lora, options, classifier is not null, modulesToSave, patterns, sha);
        Directory.CreateDirectory(dir);
        Safetensors.Save(Path.Combine(dir, WeightsFile), tensors, new Dictionary<string, string> { ["format"] = "pt" });
        var configPath = Path.Combine(dir, ConfigFile);
        File.WriteAllText(configPath + ".tmp", json.ToJsonString(new JsonSerializerOptions
        {
            WriteIndented = true,
            Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping, // regexes stay readable: no \u002B
        }));
        File.Move(configPath + ".tmp", configPath, overwrite: true);
    }

    /// <summary>The base tensors saved beside the adapters: the whole classifier head, and backbone parameters matching the patterns.</summary>
    internal static List<PeftArch.BaseTensor> ModulesToSave(nn.Module model, ClassifierHead? classifier, IReadOnlyList<string> patterns)
    {
        var globs = patterns.Select(LoraModel.Glob).ToList();
        var result = new List<PeftArch.BaseTensor>();
        foreach (var t in PeftArch.BaseTensors(model, classifier))
        {
            if (t.IsHead)
            {
                result.Add(t);
                continue;
            }
            var ours = t.OurName.Split('+');
            if (!ours.Any(n => globs.Any(g => g.IsMatch(n))))
                continue;
            if (t.Target is null)
                throw new WeightsException(
                    $"'{string.Join("', '", ours)}' are one tensor '{t.HfName}' in Hugging Face's GPT-2, so PEFT's modules_to_save cannot hold them apart; keep them frozen.");
            result.Add(t);
        }
        return result;
    }
}
