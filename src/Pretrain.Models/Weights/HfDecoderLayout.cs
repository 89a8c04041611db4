using System.Text.Json.Nodes;
using Pretrain.Models.Peft;
using Pretrain.Models.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Models.Weights;

/// <summary>
/// Converts a <see cref="DecoderLm"/> to and from the tensor names and config.json of its Hugging Face twin:
/// GPT2LMHeadModel (gpt2) or the llama family's *ForCausalLM (llama, qwen2, qwen3, mistral, phi3 by
/// <see cref="DecoderLmConfig.Layout"/>), so a checkpoint we write loads there and theirs loads here.
/// </summary>
public static class HfDecoderLayout
{
    /// <summary>
    /// The model's weights under Hugging Face names, task prefix included. GPT-2's q/k/v are fused into c_attn and
    /// its Conv1D weights transposed to [in, out]. A tied head is left out, as Hugging Face saves it.
    /// The caller owns the returned tensors; unfused ones are views sharing storage with the model.
    /// </summary>
    public static Dictionary<string, Tensor> ToHf(DecoderLm model)
    {
        var ours = Parameters(model);
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        using var _ = torch.no_grad();
        foreach (var spec in HfDecoderKeyMap.Specs(model.Config, ours.Keys))
        {
            var parts = spec.Ours.Select(n => ours[n]).ToArray();
            result[spec.HfName] = spec.Transform switch
            {
                HfTransform.Copy => parts[0].detach(),
                HfTransform.Transpose => parts[0].detach().t(),                       // (out, in) -> (in, out)
                HfTransform.Concat => torch.cat(parts, 0),                            // (3·out,) or (Σ out, in)
                HfTransform.ConcatTranspose => Fuse(parts),                           // (in, 3·out)
                _ => throw new InvalidOperationException(spec.Transform.ToString()),
            };
        }
        return result;
    }

    /// <summary>
    /// Loads Hugging Face-named weights (with or without the <c>transformer.</c>/<c>model.</c> prefix) into
    /// <paramref name="model"/>. Everything is checked first: missing or unexpected tensors and shape mismatches are
    /// reported together in one <see cref="WeightsException"/> and the model is left untouched.
    /// </summary>
    public static void LoadHf(DecoderLm model, IReadOnlyDictionary<string, Tensor> hf)
    {
        var config = model.Config;
        var prefix = HfDecoderKeyMap.Prefix(config);
        var ours = Parameters(model);
        var specs = HfDecoderKeyMap.Specs(config, ours.Keys);
        var problems = new List<string>();

        // Normalise names to the prefixed form.
        var byName = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, tensor) in hf)
        {
            var full = name.StartsWith(prefix, StringComparison.Ordinal) || name == "lm_head.weight" ? name : prefix + name;
            if (!byName.TryAdd(full, tensor))
                problems.Add($"'{name}' is given both with and without the '{prefix}' prefix");
        }

        var expectedNames = specs.Select(s => s.HfName).ToHashSet(StringComparer.Ordinal);
        var missing = specs.Where(s => !byName.ContainsKey(s.HfName)).Select(s => s.HfName).ToList();
        var unexpected = byName.Keys
            .Where(n => !expectedNames.Contains(n) && !HfDecoderKeyMap.IsIgnoredBuffer(n) && !IsTiedHead(config, n))
            .Order(StringComparer.Ordinal).ToList();
        foreach (var spec in specs.Where(s => byName.ContainsKey(s.HfName)))
        {
            var actual = byName[spec.HfName];
            var expected = HfShape(spec, ours);
            if (!actual.shape.SequenceEqual(expected))
                problems.Add($"'{spec.HfName}' has shape [{string.Join(", ", actual.shape)}], the model needs [{string.Join(", ", expected)}]");
            else if (!actual.is_floating_point())
                problems.Add($"'{spec.HfName}' has dtype {actual.dtype}, not a floating-point type");
        }
        var embedName = specs.Single(s => s.Ours[0] == "tok_embed.weight").HfName;
        if (config.TieEmbeddings && byName.TryGetValue("lm_head.weight", out var head)
            && byName.TryGetValue(embedName, out var embed) && !SameValues(head, embed))
            problems.Add("'lm_head.weight' differs from the token embeddings, but the model ties them: set model.tie_embeddings to false (config.json tie_word_embeddings) to load an untied head");

        if (missing.Count > 0)
            problems.Insert(0, "missing: " + List(missing));
        if (unexpected.Count > 0)
            problems.Insert(missing.Count > 0 ? 1 : 0, "unexpected: " + List(unexpected));
        if (problems.Count > 0)
            throw new WeightsException(
                $"The Hugging Face {(config.IsLlama ? config.Layout ?? "llama" : "GPT-2")} weights do not fit this model ({config.NumLayers} layers, width {config.EmbedDim}, vocab {config.VocabSize}): " +
                string.Join("; ", problems) + ". Check that config.json matches the weights file.");

        using var _ = torch.no_grad();
        foreach (var spec in specs)
        {
            var source = byName[spec.HfName];
            var parts = spec.Transform switch
            {
                HfTransform.Copy => [source],
                HfTransform.Transpose => [source.t()],
                HfTransform.Concat => source.split(spec.Ours.Select(n => ours[n].shape[0]).ToArray(), 0),
                HfTransform.ConcatTranspose => source.t().split(spec.Ours.Select(n => ours[n].shape[0]).ToArray(), 0),
                _ => throw new InvalidOperationException(spec.Transform.ToString()),
            };
            for (var i = 0; i < parts.Length; i++)
            {
                ours[spec.Ours[i]].copy_(parts[i]);
                if (!ReferenceEquals(parts[i], source))
                    parts[i].Dispose();
            }
        }
    }

    /// <summary>The task model's backbone prefix of its tensor names: <c>transformer.</c> (gpt2) or <c>model.</c> (llama family).</summary>
    public static string Prefix(DecoderLmConfig config) => HfDecoderKeyMap.Prefix(config);

    /// <summary>The Hugging Face config.json for the model; settings HF lacks go under a "pretrain" key.</summary>
    public static JsonObject ConfigJson(DecoderLmConfig config, int? bosTokenId = null, int? eosTokenId = null) =>
        HfDecoderConfig.ToJson(config, bosTokenId, eosTokenId);

    /// <summary>The model configuration described by a Hugging Face config.json (gpt2 or llama).</summary>
    public static DecoderLmConfig ConfigFromJson(JsonObject json) => HfDecoderConfig.FromJson(json);

    // LoRA matrices are not part of the Hugging Face model: they go to the PEFT adapter file (Peft/PeftAdapterLayout).
    private static Dictionary<string, Tensor> Parameters(DecoderLm model) =>
        model.named_parameters().Where(p => !LoraLinear.IsAdapterParameter(p.name))
            .ToDictionary(p => p.name, p => (Tensor)p.parameter, StringComparer.Ordinal);

    private static Tensor Fuse(Tensor[] qkv)
    {
        using var cat = torch.cat(qkv, 0); // (3·out, in)
        return cat.t().contiguous();        // (in, 3·out)
    }

    private static long[] HfShape(HfTensorSpec spec, Dictionary<string, Tensor> ours)
    {
        var first = ours[spec.Ours[0]].shape;
        var rows = spec.Ours.Sum(n => ours[n].shape[0]);
        return spec.Transform switch
        {
            HfTransform.Copy => first,
            HfTransform.Transpose => [first[1], first[0]],
            HfTransform.Concat => [rows, .. first.Skip(1)],
            HfTransform.ConcatTranspose => [first[1], rows],
            _ => throw new InvalidOperationException(spec.Transform.ToString()),
        };
    }

    private static bool SameValues(Tensor a, Tensor b)
    {
        if (!a.shape.SequenceEqual(b.shape))
            return false;
        using var a2 = a.to(b.dtype, b.device);
        using var eq = a2.equal(b);
        using var all = eq.all();
        return all.item<bool>();
    }

    private static bool IsTiedHead(DecoderLmConfig config, string name) => config.TieEmbeddings && name == "lm_head.weight";

    private static string List(List<string> names) =>
        string.Join(", ", names.Take(20)) + (names.Count > 20 ? $" and {names.Count - 20} more" : "");
}
