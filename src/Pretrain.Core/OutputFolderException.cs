namespace Pretrain.Core;

/// <summary>An output or run folder that may not be written (not ours, a run's checkpoint, or held by another writer); the message says what to do.</summary>
public sealed class OutputFolderException(string message) : IOException(message);
