namespace Pretrain.Cli;

/// <summary>The command line itself is wrong (exit 2).</summary>
public sealed class UsageException(string message) : Exception(message);
