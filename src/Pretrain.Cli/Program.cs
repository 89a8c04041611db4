using Pretrain.Cli;

// `pretrain`: one clear message and a non-zero exit on bad input; the stack only with --verbose.
return Cli.Run(args, Console.Out, Console.Error);
