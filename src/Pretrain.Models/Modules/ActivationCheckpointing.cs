namespace Pretrain.Models.Modules;

/// <summary>
/// Which transformer blocks run under <see cref="ActivationCheckpoint"/>: every <see cref="Every"/>-th block
/// (blocks 0, k, 2k, …), so k = 1 checkpoints all of them. A model built without it (null) keeps every activation.
/// A training-time policy, not part of the network's shape: it is a constructor argument beside the config, never
/// written into config.json.
/// </summary>
public sealed record ActivationCheckpointing
{
    /// <summary>Checkpoint every k-th block (recipe key train.activation_checkpointing_every); at least 1.</summary>
    public int Every { get; init; } = 1;

    /// <summary>Whether block <paramref name="layer"/> (0-based) is recomputed in backward.</summary>
    public bool Applies(int layer) => layer % Every == 0;

    /// <summary>Throws an <see cref="ArgumentException"/> naming the recipe key when <see cref="Every"/> is below 1.</summary>
    public void Validate()
    {
        if (Every < 1)
            throw new ArgumentException($"train.activation_checkpointing_every ({Every}) must be 1 or more (1 = every block).");
    }
}
