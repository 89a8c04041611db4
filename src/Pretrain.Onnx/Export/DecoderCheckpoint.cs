using System.Text.Json;
using System.Text.Json.Nodes;
using Pretrain.Models.Text;
using Pretrain.Models.Weights;
using TorchSharp;

namespace Pretrain.Onnx.Export;

/// <summary>
/// Reads a checkpoint step folder (config.json + model.safetensors in the Hugging Face layout) into a
/// <see cref="DecoderLm"/> in eval mode on the CPU. Every problem is an <see cref="OnnxExportException"/> naming the file.
/// Run folders are resolved by the caller (Pretrain.Training's CheckpointLocator), which this project does not reference.
/// </summary>
public static class DecoderCheckpoint
{
    /// <summary>Loads the model of <paramref name="stepDir"/>.</summary>
    public static DecoderLm Load(string stepDir)
    {
        if (!Directory.Exists(stepDir))
            throw new OnnxExportException($"Checkpoint folder {stepDir} does not exist; pass a step folder (runs/NAME/checkpoints/step-00001000) or a run folder.");
        var configPath = Path.Combine(stepDir, "config.json");
        var weightsPath = Path.Combine(stepDir, "model.safetensors");
        foreach (var file in new[] { configPath, weightsPath })
        {
            if (!File.Exists(file))
                throw new OnnxExportException($"{file} is missing: the checkpoint is incomplete. Export another step folder, or the run folder to use its latest checkpoint.");
        }
        var config = ReadConfig(configPath);
        DecoderLm? model = null;
        var weights = ReadWeights(weightsPath);
        try
        {
            model = new DecoderLm(config);
            HfDecoderLayout.LoadHf(model, weights);
            model.eval();
            return model;
        }
        catch (Exception e) when (e is WeightsException or ArgumentException)
        {
            model?.Dispose();
            throw new OnnxExportException($"{weightsPath} does not match {configPath}: {e.Message}", e);
        }
        finally
        {
            foreach (var t in weights.Values)
                t.Dispose();
        }
    }

    private static Dictionary<string, torch.Tensor> ReadWeights(string path)
    {
        try
        {
            return Safetensors.Load(path);
        }
        catch (WeightsException e)
        {
            throw new OnnxExportException($"{path} cannot be read: {e.Message}", e);
        }
    }

    /// <summary>The model configuration in <paramref name="configPath"/> (a Hugging Face gpt2 or llama config.json).</summary>
    public static DecoderLmConfig ReadConfig(string configPath)
    {
        try
        {
            var json = JsonNode.Parse(File.ReadAllText(configPath)) as JsonObject
                ?? throw new OnnxExportException($"{configPath} is not a JSON object.");
            var config = HfDecoderLayout.ConfigFromJson(json);
            config.Validate();
            return config;
        }
        catch (Exception e) when (e is JsonException or WeightsException or ArgumentException or InvalidOperationException or FormatException)
        {
            throw new OnnxExportException($"{configPath} does not describe a gpt2 or llama decoder: {e.Message}", e);
        }
    }

    /// <summary>TorchSharp logits (B·T·V, row-major) of <paramref name="inputIds"/> (B, T).</summary>
    public static float[] Logits(DecoderLm model, long[] inputIds, int batch, int sequence)
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var ids = torch.tensor(inputIds, [batch, sequence], torch.ScalarType.Int64);
        return model.call(ids).to_type(torch.ScalarType.Float32).contiguous().data<float>().ToArray();
    }
}
