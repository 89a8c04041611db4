namespace Pretrain.Training.Tests.Checkpointing;

/// <summary>A temporary run folder with a checkpoints/ subfolder, deleted after the test.</summary>
public sealed class CheckpointTestFolder : IDisposable
{
    public CheckpointTestFolder()
    {
        RunDir = Directory.CreateTempSubdirectory("pretrain-ckpt-").FullName;
        CheckpointsDir = Path.Combine(RunDir, "checkpoints");
    }

    public string RunDir { get; }

    public string CheckpointsDir { get; }

    public string Step(long step) => Path.Combine(CheckpointsDir, $"step-{step:D8}");

    public string Latest => File.ReadAllText(Path.Combine(CheckpointsDir, "latest"));

    /// <summary>What a trainer would write: a "model" file, a config, and a file in a subfolder.</summary>
    public static void WriteFiles(string dir, long step)
    {
        File.WriteAllText(Path.Combine(dir, "model.safetensors"), $"weights of step {step}");
        File.WriteAllText(Path.Combine(dir, "config.json"), "{}");
        Directory.CreateDirectory(Path.Combine(dir, "tokenizer"));
        File.WriteAllText(Path.Combine(dir, "tokenizer", "vocab.txt"), "a\nb\n");
    }

    public void Dispose() => Directory.Delete(RunDir, recursive: true);
}
