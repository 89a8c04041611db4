using System.Text.RegularExpressions;
using Pretrain.Models.Text;

namespace Pretrain.Models.Weights;

/// <summary>
/// The explicit key map between <see cref="DecoderLm"/> parameter names and the Hugging Face layouts of
/// GPT2LMHeadModel (prefix <c>transformer.</c>, fused Conv1D <c>c_attn</c>) and LlamaForCausalLM (prefix <c>model.</c>;
/// Qwen2, Qwen3 and Mistral use its names, Qwen3 adding <c>self_attn.q_norm</c>/<c>k_norm</c>; Phi-3 fuses
/// <c>qkv_proj</c> and <c>gate_up_proj</c>).
/// </summary>
internal static partial class HfDecoderKeyMap
{
    public const string Gpt2Prefix = "transformer.";
    public const string LlamaPrefix = "model.";

    /// <summary>The task model's backbone prefix for the arch.</summary>
    public static string Prefix(DecoderLmConfig config) => config.IsLlama ? LlamaPrefix : Gpt2Prefix;

    /// <summary>Specs for every parameter of a model, in its parameter order; HF names carry the task prefix.</summary>
    public static List<HfTensorSpec> Specs(DecoderLmConfig config, IEnumerable<string> ourNames)
    {
        var specs = new List<HfTensorSpec>();
        foreach (var name in ourNames)
        {
            if (config.IsLlama)
            {
                if (config.Layout == "phi3" && Phi3Fused(name) is { } fused)
                {
                    if (fused.Emit)
                        specs.Add(fused.Spec);
                    continue;
                }
                specs.Add(new HfTensorSpec(Llama(name), [name], HfTransform.Copy));
                continue;
            }
            var qkv = QkvRegex().Match(name);
            if (qkv.Success)
            {
                // q, k, v become one c_attn tensor: emit it once, at q.
                if (qkv.Groups[2].Value != "q")
                    continue;
                var (layer, kind) = (qkv.Groups[1].Value, qkv.Groups[3].Value);
                string[] parts = [.. new[] { "q", "k", "v" }.Select(p => $"blocks.{layer}.attn.{p}_proj.{kind}")];
                specs.Add(new HfTensorSpec($"{Gpt2Prefix}h.{layer}.attn.c_attn.{kind}", parts,
                    kind == "weight" ? HfTransform.ConcatTranspose : HfTransform.Concat));
                continue;
            }
            var (hf, conv1d) = Gpt2(name);
            specs.Add(new HfTensorSpec(hf, [name], conv1d && name.EndsWith(".weight", StringComparison.Ordinal) ? HfTransform.Transpose : HfTransform.Copy));
        }
        return specs;
    }

    /// <summary>HF causal-mask and RoPE buffers some checkpoints carry; they hold no weights and are skipped.</summary>
    public static bool IsIgnoredBuffer(string hfName) => IgnoredRegex().IsMatch(hfName);

    private static (string Name, bool Conv1D) Gpt2(string ours)
    {
        if (ours == "lm_head.weight")
            return (ours, false);
        var block = BlockRegex().Match(ours);
        if (!block.Success)
        {
            return ours switch
            {
                "tok_embed.weight" => (Gpt2Prefix + "wte.weight", false),
                "pos_embed.weight" => (Gpt2Prefix + "wpe.weight", false),
                _ when ours.StartsWith("norm.", StringComparison.Ordinal) => (Gpt2Prefix + "ln_f." + ours[5..], false),
                _ => throw Unknown(ours),
            };
        }
        var (layer, rest) = (block.Groups[1].Value, block.Groups[2].Value);
        var (hf, conv1d) = rest switch
        {
            _ when rest.StartsWith("norm1.", StringComparison.Ordinal) => ("ln_1." + rest[6..], false),
            _ when rest.StartsWith("norm2.", StringComparison.Ordinal) => ("ln_2." + rest[6..], false),
            _ when rest.StartsWith("attn.o_proj.", StringComparison.Ordinal) => ("attn.c_proj." + rest[12..], true),
            _ when rest.StartsWith("mlp.up_proj.", StringComparison.Ordinal) => ("mlp.c_fc." + rest[12..], true),
            _ when rest.StartsWith("mlp.down_proj.", StringComparison.Ordinal) => ("mlp.c_proj." + rest[14..], true),
            _ => throw Unknown(ours),
        };
        return ($"{Gpt2Prefix}h.{layer}.{hf}", conv1d);
    }

    private static string Llama(string ours)
    {
        if (ours == "lm_head.weight")
            return ours;
        if (ours == "tok_embed.weight")
            return LlamaPrefix + "embed_tokens.weight";
        if (ours.StartsWith("norm.", StringComparison.Ordinal))
            return LlamaPrefix + ours;
        var block = BlockRegex().Match(ours);
        if (!block.Success)
            throw Unknown(ours);
        var (layer, rest) = (block.Groups[1].Value, block.Groups[2].Value);
        var hf = rest switch
        {
            _ when rest.StartsWith("norm1.", StringComparison.Ordinal) => "input_layernorm." + rest[6..],
            _ when rest.StartsWith("norm2.", StringComparison.Ordinal) => "post_attention_layernorm." + rest[6..],
            _ when rest.StartsWith("attn.", StringComparison.Ordinal) => "self_attn." + rest[5..],
            _ when rest.StartsWith("mlp.", StringComparison.Ordinal) => rest,
            _ => throw Unknown(ours),
        };
        return $"{LlamaPrefix}layers.{layer}.{hf}";
    }

    /// <summary>
    /// Phi-3 stores q|k|v as one <c>self_attn.qkv_proj</c> and gate|up as one <c>mlp.gate_up_proj</c> (rows
    /// concatenated, gate first); the fused tensor is emitted once, at its first part. Null: not a fused part.
    /// </summary>
    private static (bool Emit, HfTensorSpec Spec)? Phi3Fused(string ours)
    {
        var qkv = QkvRegex().Match(ours);
        if (qkv.Success)
        {
            var (layer, kind) = (qkv.Groups[1].Value, qkv.Groups[3].Value);
            string[] parts = [.. new[] { "q", "k", "v" }.Select(p => $"blocks.{layer}.attn.{p}_proj.{kind}")];
            return (qkv.Groups[2].Value == "q", new HfTensorSpec($"{LlamaPrefix}layers.{layer}.self_attn.qkv_proj.{kind}", parts, HfTransform.Concat));
        }
        var gateUp = GateUpRegex().Match(ours);
        if (gateUp.Success)
        {
            var (layer, kind) = (gateUp.Groups[1].Value, gateUp.Groups[3].Value);
            string[] parts = [$"blocks.{layer}.mlp.gate_proj.{kind}", $"blocks.{layer}.mlp.up_proj.{kind}"];
            return (gateUp.Groups[2].Value == "gate", new HfTensorSpec($"{LlamaPrefix}layers.{layer}.mlp.gate_up_proj.{kind}", parts, HfTransform.Concat));
        }
        return null;
    }

    private static InvalidOperationException Unknown(string ours) =>
        new($"No Hugging Face name is defined for DecoderLm parameter '{ours}'.");

    [GeneratedRegex(@"^blocks\.(\d+)\.(.+)$")]
    private static partial Regex BlockRegex();

    [GeneratedRegex(@"^blocks\.(\d+)\.attn\.(q|k|v)_proj\.(weight|bias)$")]
    private static partial Regex QkvRegex();

    [GeneratedRegex(@"^blocks\.(\d+)\.mlp\.(gate|up)_proj\.(weight|bias)$")]
    private static partial Regex GateUpRegex();

    [GeneratedRegex(@"^(transformer\.)?h\.\d+\.attn\.(bias|masked_bias)$|^(model\.)?(layers\.\d+\.self_attn\.)?rotary_emb\.inv_freq$")]
    private static partial Regex IgnoredRegex();
}
