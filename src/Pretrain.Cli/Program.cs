using Pretrain.Cli;

// `pretrain`: one clear message and a non-zero exit on bad input; the stack only with --verbose.
// SIGINT/SIGTERM/SIGUSR1 are handled in one place for every command (SignalScope).
using var signals = SignalScope.Install(Console.Error);
return Cli.Run(args, Console.Out, Console.Error);
