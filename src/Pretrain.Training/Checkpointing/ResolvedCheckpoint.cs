namespace Pretrain.Training.Checkpointing;

/// <summary>
/// A verified checkpoint step folder, its step, and what was skipped on the way to it
/// (e.g. a newer checkpoint that failed its manifest), for the caller to print.
/// </summary>
public sealed record ResolvedCheckpoint(string Directory, long Step, IReadOnlyList<string> Warnings);
