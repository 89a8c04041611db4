using System.Runtime.InteropServices;
using TorchSharp;

namespace Pretrain.Cli.Commands;

/// <summary>`pretrain info`: versions, backend, devices and threads — what a bug report needs.</summary>
public static class InfoCommand
{
    public static int Execute(ArgList args, TextWriter stdout)
    {
        args.RejectUnknown();
        var version = typeof(InfoCommand).Assembly.GetName().Version;
        stdout.WriteLine($"pretrain      {version}");
        stdout.WriteLine($".NET          {RuntimeInformation.FrameworkDescription} ({RuntimeInformation.RuntimeIdentifier})");
        stdout.WriteLine($"TorchSharp    {typeof(torch).Assembly.GetName().Version}");
        stdout.WriteLine($"libtorch      {(torch.cuda.is_available() ? "CUDA" : "CPU")} build, {torch.get_num_threads()} intra-op threads");
        stdout.WriteLine($"cuda devices  {(torch.cuda.is_available() ? torch.cuda.device_count() : 0)}");
        stdout.WriteLine($"cpu cores     {Environment.ProcessorCount}");
        using var a = torch.ones(2, 2);
        stdout.WriteLine($"self-check    ones(2,2)·ones(2,2) sum = {a.matmul(a).sum().item<float>()} (expect 8)");
        return 0;
    }
}
