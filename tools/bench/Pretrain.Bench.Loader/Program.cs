using Pretrain.Bench.Loader;

return LoaderBench.Run(args, Console.Out);
