using System.Text.Json.Nodes;
using Pretrain.Models.Heads;
using Pretrain.Models.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Models.Peft;

/// <summary>
/// Reads a PEFT LoRA adapter folder onto a model built with LoRA: every check first (config, base sha256, names,
/// shapes, scales), one <see cref="WeightsException"/> listing all problems, and only then any copy.
/// </summary>
internal static class PeftAdapterReader
{
    public static void Load(string dir, nn.Module model, ClassifierHead? classifier, string? baseWeightsFile, bool force)
    {
        var arch = PeftArch.Of(model);
        if (PeftArch.Lora(model) is null)
            throw new WeightsException($"The {arch} model has no LoRA layers: build it with the adapter's LoraConfig (PeftAdapterLayout.ReadConfig) to load {dir}.");
        var configPath = Path.Combine(dir, PeftAdapterLayout.ConfigFile);
        var json = PeftAdapterConfig.Read(configPath);
        CheckConfig(json, configPath, arch, baseWeightsFile, force);

        using var scope = torch.NewDisposeScope();
        var file = Safetensors.Load(Path.Combine(dir, PeftAdapterLayout.WeightsFile));
        var problems = new List<string>();
        var copies = new List<(Tensor Target, Tensor Source)>();
        var used = new HashSet<string>(StringComparer.Ordinal);
        var rslora = HfJson.Bool(json, "use_rslora") ?? false;
        var dora = HfJson.Bool(json, "use_dora") ?? false;
        var blockDiagonal = HfJson.Str(json["pretrain"] as JsonObject, PeftAdapterConfig.FusedKey(arch)) == PeftAdapterConfig.BlockDiagonal;
        var modelDora = PeftArch.Lora(model)!.UseDora;
        if (dora != modelDora)
            problems.Add(dora ? "the adapter is DoRA (use_dora: true), the model was built without lora.use_dora" : "the model was built with lora.use_dora, the adapter is plain LoRA (use_dora: false)");
        var loaded = new List<LoraLinear>();

        foreach (var group in PeftArch.Groups(model, arch))
        {
            var (aName, bName, mName) = ($"{PeftAdapterLayout.Prefix}{group.HfPath}.lora_A.weight", $"{PeftAdapterLayout.Prefix}{group.HfPath}.lora_B.weight",
                $"{PeftAdapterLayout.Prefix}{group.HfPath}.{PeftAdapterLayout.MagnitudeKey}");
            used.Add(aName);
            used.Add(bName);
            file.TryGetValue(aName, out var a);
            file.TryGetValue(bName, out var b);
            Tensor? m = null;
            if (dora && modelDora)
            {
                used.Add(mName);
                if (!file.TryGetValue(mName, out m))
                    problems.Add($"missing '{mName}' (use_dora is true)");
            }
            if (a is null || b is null)
            {
                problems.Add("missing " + string.Join(", ", new[] { (aName, a), (bName, b) }.Where(x => x.Item2 is null).Select(x => $"'{x.Item1}'")));
                continue;
            }
            var targeted = group.Targeted.ToList();
            var first = targeted[0].Layer!;
            var (rank, inDim) = (first.Rank, first.LoraA.shape[1]);
            var fileRank = a.dim() == 2 ? a.shape[0] : -1;
            var alpha = PeftAdapterConfig.AlphaFor(json, group.HfPath);
            var fileScale = rslora ? alpha / Math.Sqrt(fileRank) : alpha / fileRank;
            if (Math.Abs(fileScale - first.Scale) > 1e-9 * Math.Abs(first.Scale))
                problems.Add($"'{group.HfPath}' is scaled by {fileScale:G6} in the adapter (lora_alpha {alpha:G6}, rank {fileRank}{(rslora ? ", rsLoRA" : "")}), the model by {first.Scale:G6}");
            if (m is not null && !Shape(m, [group.Rows], mName, problems))
                continue;

            if (!group.Fused)
            {
                if (!Shape(a, [rank, inDim], aName, problems) | !Shape(b, [group.Rows, rank], bName, problems))
                    continue;
                copies.Add((first.LoraA, a));
                copies.Add((first.LoraB, b));
                if (m is not null)
                    copies.Add((first.Magnitude!, m));
                loaded.Add(first);
            }
            else
            {
                // Fused module: block-diagonal (ours, rank |S|·r) or PEFT's shared A (rank r, all parts).
                var sharedA = !blockDiagonal;
                var wantRank = sharedA ? rank : targeted.Count * rank;
                if (!Shape(a, [wantRank, inDim], aName, problems) | !Shape(b, [group.Rows, wantRank], bName, problems))
                    continue;
                using var rest = b.clone();
                for (var j = 0; j < targeted.Count; j++)
                {
                    var part = targeted[j];
                    var rows = TensorIndex.Slice(part.Offset, part.Offset + part.Rows);
                    var cols = sharedA ? TensorIndex.Colon : TensorIndex.Slice(j * rank, (j + 1) * rank);
                    copies.Add((part.Layer!.LoraA, sharedA ? a : a[cols]));
                    copies.Add((part.Layer.LoraB, b[rows, cols]));
                    if (m is not null)
                        copies.Add((part.Layer.Magnitude!, m[rows]));
                    loaded.Add(part.Layer);
                    rest[rows, cols] = 0;
                }
                if (rest.abs().max().item<float>() != 0)
                    problems.Add($"'{bName}' adapts {(sharedA ? $"a projection of {string.Join(", ", group.Parts.Select(p => p.Ours))} this model does not target" : "across the blocks of the fused projections, which separate adapters cannot hold")}");
                foreach (var part in group.Parts.Where(p => p.Layer is null && m is not null))
                {
                    // DoRA on an untargeted part: only m = ‖W‖ (scale 1) leaves it as our plain linear computes it.
                    using var norms = PeftAdapterLayout.RowNorms(part.FrozenWeight!);
                    using var diff = (m![TensorIndex.Slice(part.Offset, part.Offset + part.Rows)] - norms).abs().max();
                    using var size = norms.abs().max();
                    if (diff.item<float>() > 1e-4 * Math.Max(1, size.item<float>()))
                        problems.Add($"'{mName}' rescales the rows of {part.Ours}, which this model does not target");
                }
            }
        }

        var baseTensors = PeftArch.BaseTensors(model, classifier).ToDictionary(t => PeftAdapterLayout.Prefix + t.HfName, StringComparer.Ordinal);
        foreach (var (name, tensor) in file.Where(kv => !used.Contains(kv.Key)))
        {
            if (!baseTensors.TryGetValue(name, out var target) || target.Target is null)
            {
                problems.Add($"unexpected '{name}'");
                continue;
            }
            var source = target.Transposed && tensor.dim() == 2 ? tensor.t() : tensor;
            if (Shape(source, target.Target.shape, name, problems))
                copies.Add((target.Target, source));
        }
        foreach (var head in baseTensors.Where(kv => kv.Value.IsHead && !file.ContainsKey(kv.Key)))
            problems.Add($"missing '{head.Key}' (the classifier head given to the load)");

        if (problems.Count > 0)
            throw new WeightsException(
                $"The adapter in {dir} does not fit this {arch} model ({PeftArch.NumLayers(model)} layers, LoRA on " +
                $"{string.Join(", ", PeftArch.Lora(model)!.Targets)}): {string.Join("; ", problems.Take(20))}" +
                (problems.Count > 20 ? $" and {problems.Count - 20} more" : "") +
                ". Build the model with the adapter's LoraConfig (PeftAdapterLayout.ReadConfig) and the base it was trained on.");
        using var _ = torch.no_grad();
        foreach (var (target, source) in copies)
            target.copy_(source);
        foreach (var layer in loaded.Where(l => l.Magnitude is not null))
            layer.MagnitudeLoaded();
    }

    public static LoraConfig ReadConfig(string dir, string? arch)
    {
        var path = Path.Combine(dir, PeftAdapterLayout.ConfigFile);
        var json = PeftAdapterConfig.Read(path);
        var extras = json["pretrain"] as JsonObject;
        arch ??= HfJson.Str(extras, "arch");
        var targets = (extras?["targets"] as JsonArray)?.Select(n => n!.GetValue<string>()).ToList();
        if (targets is null)
        {
            if (arch is null || json["target_modules"] is not JsonArray list)
                throw new WeightsException($"{path}: target_modules is not a list, or the architecture is unknown; give the arch, or build the LoraConfig by hand.");
            targets = PeftTargetModules.Ours(arch, list.Select(n => n!.GetValue<string>()));
        }
        var layers = (extras?["layers"] ?? json["layers_to_transform"]) as JsonArray;
        var config = new LoraConfig
        {
            Rank = HfJson.OptInt(json, "r") ?? 8,
            Alpha = HfJson.Num(json, "lora_alpha") ?? 8,
            Dropout = HfJson.Num(json, "lora_dropout") ?? 0,
            UseRslora = HfJson.Bool(json, "use_rslora") ?? false,
            UseDora = HfJson.Bool(json, "use_dora") ?? false,
            QuantizeBase = HfJson.Str(extras, "quantize_base") ?? "none",
            Targets = targets,
            Layers = layers?.Select(n => n!.GetValue<int>()).ToList(),
        };
        try
        {
            config.Validate();
        }
        catch (ArgumentException e)
        {
            throw new WeightsException($"{path} describes LoRA settings this project cannot build: {e.Message}", e);
        }
        return config;
    }

    private static void CheckConfig(JsonObject json, string path, string arch, string? baseWeightsFile, bool force)
    {
        if (HfJson.Str(json, "peft_type") != "LORA")
            throw new WeightsException($"{path}: peft_type is '{HfJson.Str(json, "peft_type")}', not LORA.");
        if (HfJson.Str(json, "bias") is string bias && bias != "none")
            throw new WeightsException($"{path}: bias is '{bias}'; only 'none' is supported (biases stay frozen).");
        var extras = json["pretrain"] as JsonObject;
        if (HfJson.Str(extras, "arch") is string fileArch && fileArch != arch)
            throw new WeightsException($"{path}: the adapter is for a {fileArch} model, not {arch}.");
        if (baseWeightsFile is not null && HfJson.Str(extras, "base_sha256") is string expected)
        {
            var actual = PeftAdapterLayout.Sha256File(baseWeightsFile);
            if (!string.Equals(actual, expected, StringComparison.OrdinalIgnoreCase) && !force)
                throw new WeightsException(
                    $"{path}: the adapter was trained on base weights with sha256 {expected}, but {baseWeightsFile} has sha256 {actual}. " +
                    $"Load the base it was trained on ({HfJson.Str(json, "base_model_name_or_path") ?? "base_model_name_or_path is not recorded"}), or force the load.");
        }
    }

    private static bool Shape(Tensor t, long[] expected, string name, List<string> problems)
    {
        if (t.shape.SequenceEqual(expected) && t.is_floating_point())
            return true;
        problems.Add(t.is_floating_point()
            ? $"'{name}' has shape [{string.Join(", ", t.shape)}], the model needs [{string.Join(", ", expected)}]"
            : $"'{name}' has dtype {t.dtype}, not a floating-point type");
        return false;
    }
}
