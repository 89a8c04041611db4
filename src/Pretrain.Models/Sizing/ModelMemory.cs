using System.Globalization;
using Pretrain.Models.Peft;
using Pretrain.Models.Text;
using Pretrain.Models.Vision;
using Pretrain.Models.Weights;

namespace Pretrain.Models.Sizing;

/// <summary>
/// Parameter counts from a config alone, and the check that the memory they need exists before any module is built:
/// fp32 weights (4 bytes per parameter) everywhere; while a run trains (<see cref="Training"/>), also a gradient and
/// AdamW's two moments for each trainable parameter (12 bytes more). Activations are not counted, so a model that
/// passes can still run out of memory at a large batch; one that fails cannot possibly fit.
/// Counts are doubles, so absurd sizes give absurd numbers instead of overflowing.
/// </summary>
public static class ModelMemory
{
    private static readonly AsyncLocal<string?> TrainingDevice = new();

    /// <summary>
    /// While the returned scope is open (on this async flow), models built are checked for training on
    /// <paramref name="device"/> ("cpu", "cuda", "cuda:1"), not only for holding their weights.
    /// </summary>
    public static IDisposable Training(string device)
    {
        string? before = TrainingDevice.Value;
        TrainingDevice.Value = device;
        return new Scope(() => TrainingDevice.Value = before);
    }

    /// <summary>Parameters of a decoder LM: embeddings, blocks, final norm, untied LM head; LoRA adapters apart.</summary>
    public static (double Total, double Trainable) Count(DecoderLmConfig c, LoraConfig? lora)
    {
        double d = c.EmbedDim, v = c.VocabSize, layers = c.NumLayers;
        double mlp = c.MlpHiddenDim ?? (c.IsLlama ? Math.Ceiling(8.0 * d / 3 / 64) * 64 : 4.0 * d);
        double q = (double)c.NumHeads * c.HeadDim, kv = (double)c.KvHeads * c.HeadDim;
        double bias = c.UseBias ? 1 : 0, qkvBias = c.UseQkvBias ? 1 : 0;
        double attn = d * q * 2 + d * kv * 2 + qkvBias * (q + 2 * kv) + bias * d + (c.QkNorm ? 2.0 * c.HeadDim : 0);
        double ffn = c.IsLlama ? 3 * d * mlp : 2 * d * mlp + bias * (mlp + d);
        double block = attn + ffn + 2 * d * (1 + bias);
        double total = v * d + (c.IsLlama ? 0 : (double)c.MaxSeqLen * d) + layers * block + d * (1 + bias)
            + (c.TieEmbeddings ? 0 : v * d);
        return WithLora(total, lora, layers, d, mlp);
    }

    /// <summary>Parameters of a BERT-style encoder (without heads).</summary>
    public static (double Total, double Trainable) Count(EncoderLmConfig c, LoraConfig? lora)
    {
        double d = c.EmbedDim, mlp = c.MlpHiddenDim ?? 4.0 * d;
        double total = ((double)c.VocabSize + c.MaxSeqLen + c.TypeVocabSize) * d + 2 * d
            + c.NumLayers * EncoderBlock(d, mlp) + (c.Pooler ? d * d + d : 0);
        return WithLora(total, lora, c.NumLayers, d, mlp);
    }

    /// <summary>Parameters of a ViT (without heads).</summary>
    public static (double Total, double Trainable) Count(VitConfig c, LoraConfig? lora)
    {
        double d = c.EmbedDim, mlp = c.MlpHiddenDim ?? 4.0 * d;
        double patches = Math.Pow((double)c.ImageSize / c.PatchSize, 2);
        double tokens = patches + (c.ClassToken ? 1 : 0);
        double total = (double)c.PatchSize * c.PatchSize * c.NumChannels * d + d // patch embedding (conv)
            + (c.ClassToken ? d : 0) + (c.PosEmbed == "learned" ? tokens * d : 0) + 2 * d // class token, positions, final norm
            + c.NumLayers * EncoderBlock(d, mlp);
        return WithLora(total, lora, c.NumLayers, d, mlp);
    }

    /// <summary>Parameters of an MAE decoder on top of <paramref name="encoder"/>.</summary>
    public static double CountMaeDecoder(VitConfig encoder, MaeDecoderConfig c)
    {
        double d = c.EmbedDim, mlp = c.MlpHiddenDim ?? 4.0 * d;
        double patchDim = (double)encoder.PatchSize * encoder.PatchSize * encoder.NumChannels;
        return (double)encoder.EmbedDim * d + d + d + c.NumLayers * EncoderBlock(d, mlp) + 2 * d + d * patchDim + patchDim;
    }

    /// <summary>Checks a decoder before it is built (see <see cref="EnsureFits"/>).</summary>
    public static void EnsureFits(DecoderLmConfig c, LoraConfig? lora)
    {
        var (total, trainable) = Count(c, lora);
        EnsureFits($"The {c.Arch} model (model.embed_dim={c.EmbedDim}, model.num_layers={c.NumLayers}, "
            + $"model.vocab_size={c.VocabSize}, model.max_seq_len={c.MaxSeqLen}{Mlp(c.MlpHiddenDim)})", total, trainable);
    }

    /// <summary>Checks an encoder before it is built.</summary>
    public static void EnsureFits(EncoderLmConfig c, LoraConfig? lora)
    {
        var (total, trainable) = Count(c, lora);
        EnsureFits($"The bert model (model.embed_dim={c.EmbedDim}, model.num_layers={c.NumLayers}, "
            + $"model.vocab_size={c.VocabSize}, model.max_seq_len={c.MaxSeqLen}{Mlp(c.MlpHiddenDim)})", total, trainable);
    }

    /// <summary>Checks a ViT before it is built.</summary>
    public static void EnsureFits(VitConfig c, LoraConfig? lora)
    {
        var (total, trainable) = Count(c, lora);
        EnsureFits($"The vit model (model.embed_dim={c.EmbedDim}, model.num_layers={c.NumLayers}, "
            + $"model.image_size={c.ImageSize}, model.patch_size={c.PatchSize}{Mlp(c.MlpHiddenDim)})", total, trainable);
    }

    /// <summary>Checks an MAE decoder before it is built.</summary>
    public static void EnsureMaeDecoderFits(VitConfig encoder, MaeDecoderConfig c)
    {
        double total = CountMaeDecoder(encoder, c);
        EnsureFits($"The MAE decoder (objective.decoder embed_dim={c.EmbedDim}, num_layers={c.NumLayers})", total, total);
    }

    /// <summary>Checks a head of <paramref name="inDim"/> → <paramref name="hidden"/> → <paramref name="outDim"/> (hidden 0: one layer).</summary>
    public static void EnsureFits(string what, int inDim, int hidden, int outDim)
    {
        double total = hidden == 0
            ? ((double)inDim + 1) * outDim
            : ((double)inDim + 1) * hidden + ((double)hidden + 1) * outDim;
        EnsureFits(what, total, total);
    }

    /// <summary>
    /// Refuses (with the numbers) a model whose parameters (and, while training, gradients and AdamW state) need
    /// more memory than the device has. <paramref name="what"/> names the model and its size keys for the message.
    /// </summary>
    /// <exception cref="WeightsException">The model cannot fit, or a size is not a finite positive count.</exception>
    public static void EnsureFits(string what, double parameters, double trainable)
    {
        if (!double.IsFinite(parameters) || parameters < 0 || !double.IsFinite(trainable) || trainable < 0)
            throw new WeightsException($"{what}: the sizes give no finite parameter count; use positive sizes of normal magnitude.");
        string? device = TrainingDevice.Value;
        double bytes = parameters * 4 + (device is null ? 0 : trainable * 12);
        string purpose = device is null ? "for its fp32 parameters" : "for parameters, gradients and AdamW state";

        // Every model is built on the CPU first (and moved to the device after), so its weights must fit there.
        double weights = parameters * 4;
        if (AvailableCpuBytes() is { } cpu)
        {
            bool cpuTrains = device is null or "cpu";
            double need = cpuTrains ? bytes : weights;
            if (need > cpu)
            {
                throw new WeightsException($"{what} has ~{parameters:G3} parameters and needs ~{Bytes(need)} "
                    + $"{(cpuTrains ? purpose : "for its fp32 parameters while it is built")}; this machine has "
                    + $"{Bytes(cpu)} of memory available. Lower the sizes named.");
            }
        }
        // CUDA: TorchSharp exposes no device memory query (no mem_get_info or device properties), so the
        // gradient and optimizer state on the GPU are not checked here; libtorch reports a CUDA allocation failure.
    }

    /// <summary>MemAvailable from /proc/meminfo, or null where it cannot be read (not Linux).</summary>
    public static double? AvailableCpuBytes()
    {
        try
        {
            foreach (string line in File.ReadLines("/proc/meminfo"))
            {
                if (!line.StartsWith("MemAvailable:", StringComparison.Ordinal))
                    continue;
                string[] parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                return double.Parse(parts[1], CultureInfo.InvariantCulture) * 1024;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
        }
        return null;
    }

    /// <summary>1.28 TB, 21.3 GB, 512 MB (powers of 1000).</summary>
    public static string Bytes(double bytes)
    {
        string[] units = ["bytes", "kB", "MB", "GB", "TB", "PB", "EB"];
        int u = 0;
        while (bytes >= 1000 && u < units.Length - 1)
        {
            bytes /= 1000;
            u++;
        }
        return string.Create(CultureInfo.InvariantCulture, $"{bytes:0.##} {units[u]}");
    }

    private static string Mlp(int? hidden) => hidden is int h ? $", model.mlp_hidden_dim={h}" : "";

    /// <summary>Fused QKV or separate q/k/v, output projection, two-layer MLP, two LayerNorms, all with biases.</summary>
    private static double EncoderBlock(double d, double mlp) => 4 * d * d + 4 * d + 2 * d * mlp + mlp + d + 4 * d;

    /// <summary>With LoRA the base is frozen and only adapters train: rank·(in + out) per adapted projection.</summary>
    private static (double Total, double Trainable) WithLora(double baseCount, LoraConfig? lora, double layers, double d, double mlp)
    {
        if (lora is null)
            return (baseCount, baseCount);
        double perLayer = lora.Targets.Sum(t => (double)lora.Rank * (d + (t is "gate_proj" or "up_proj" or "down_proj" ? mlp : d))
            + (lora.UseDora ? (t is "gate_proj" or "up_proj" ? mlp : d) : 0)); // DoRA: m, one per output feature
        double adapted = lora.Layers?.Count ?? layers;
        double adapters = adapted * perLayer;
        return (baseCount + adapters, adapters);
    }

    private sealed class Scope(Action end) : IDisposable
    {
        public void Dispose() => end();
    }
}
