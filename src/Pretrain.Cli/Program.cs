using Pretrain.Cli;

// `pretrain`: one clear message and a non-zero exit on bad input; the stack only with --verbose.
// SIGINT/SIGTERM/SIGUSR1 are handled in one place for every command (SignalScope).
// Open MPI's mpirun gives a rank's stdout a pseudo-terminal (built with pty support; no option turns it off), so .NET
// would begin the output with TERM's keypad-mode sequence (ESC [?1h ESC =). A rank draws no terminal UI.
if (Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_RANK") is not null) Environment.SetEnvironmentVariable("TERM", "dumb");
using var signals = SignalScope.Install(Console.Error);
return Cli.Run(args, Console.Out, Console.Error);
