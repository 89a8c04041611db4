using System.Diagnostics;
using Pretrain.Data.Datasets;
using Pretrain.Data.Sources;

namespace Pretrain.Cli.Tests;

/// <summary>
/// The real corpus: tools/data/fashion-mnist.sh fetches Debian's package and converts it with `pretrain data prepare idx`
/// into .cache/data/fashion-mnist (kept between runs, so later runs only check). Counts and the published pixel mean
/// (0.2860 on the training set) prove the IDX parsing, PNG round trip and the image stream on 70,000 real images.
/// </summary>
public sealed class FashionMnistTests
{
    [FashionMnistFact]
    public void FetchedAndPreparedWithPublishedCountsAndMean()
    {
        string root = CliRunner.RepoRoot;
        string cli = Path.Combine(AppContext.BaseDirectory, "pretrain.dll");
        var info = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(Path.Combine(root, "tools", "data", "fashion-mnist.sh"));
        info.Environment["PRETRAIN"] = $"dotnet {cli}";
        using (var script = Process.Start(info)!)
        {
            var stderr = script.StandardError.ReadToEndAsync();
            string stdout = script.StandardOutput.ReadToEnd();
            Assert.True(script.WaitForExit(TimeSpan.FromMinutes(5)), "tools/data/fashion-mnist.sh did not finish in 5 minutes");
            Assert.True(script.ExitCode == 0, $"tools/data/fashion-mnist.sh failed (exit {script.ExitCode}):\n{stdout}\n{stderr.Result}");
        }

        string data = Path.Combine(root, ".cache", "data", "fashion-mnist");
        var train = FileResolver.Resolve([Path.Combine(data, "train")], "test");
        var test = FileResolver.Resolve([Path.Combine(data, "test")], "test");
        using (var trainSource = ParquetImageSource.Open(train))
        using (var testSource = ParquetImageSource.Open(test))
        {
            Assert.Equal(60_000, trainSource.TotalRows);
            Assert.Equal(10_000, testSource.TotalRows);
        }

        using var stream = new ImageStream(new ImageStreamOptions { Files = train, Shuffle = false, MaxEpochs = 1, Workers = 2, Prefetch = 256 });
        double sum = 0;
        long n = 0;
        var perClass = new long[10];
        while (stream.TryNext(out var s, out _))
        {
            Assert.Equal((1, 28, 28), (s.Channels, s.Height, s.Width));
            foreach (float v in s.Pixels) sum += v;
            perClass[s.Label]++;
            n++;
        }

        Assert.Equal(60_000, n);
        Assert.All(perClass, c => Assert.Equal(6_000, c));
        Assert.InRange(sum / (n * 784), 0.2860 - 0.002, 0.2860 + 0.002);
    }
}
