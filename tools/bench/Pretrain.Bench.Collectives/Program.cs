using System.Diagnostics;
using System.Globalization;
using Pretrain.Distributed;
using TorchSharp;
using static TorchSharp.torch;

// All-reduce bus bandwidth (nccl-tests' definition: busbw = algbw · 2(n−1)/n, algbw = bytes / time) of the MPI
// backend for float32 buffers of 1 MB … 256 MB, against a plain memory copy (dst.copy_(src)) of the same size on one
// rank while the others wait. Each all-reduce starts after a barrier; its time is the slowest rank's (a Max
// all-reduce of the times); median of --repeats after one warm-up. Started by tools/bench/allreduce.sh under mpirun.
int repeats = 10;
var sizesMb = new[] { 1, 4, 16, 64, 256 };
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--repeats": repeats = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--sizes-mb": sizesMb = args[++i].Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray(); break;
        default: throw new ArgumentException($"unknown option {args[i]} (--repeats N, --sizes-mb 1,4,16)");
    }
}
torch.set_num_threads(1);
using var world = Collectives.FromEnvironment(new CollectiveOptions(TimeSpan.FromSeconds(600)));
int n = world.WorldSize;
bool root = world.Rank == 0;
string load = File.ReadAllText("/proc/loadavg").Split(' ')[0];
if (root)
{
    Console.WriteLine($"ranks {n} ({world.Backend}), {Environment.ProcessorCount} cores, load average {load} at start, {repeats} repeats, median");
    Console.WriteLine();
    Console.WriteLine("| size | all-reduce ms | algbw GB/s | busbw GB/s | memcpy ms | memcpy GB/s | busbw / memcpy |");
    Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|");
}
foreach (int mb in sizesMb)
{
    long bytes = (long)mb << 20;
    using var buffer = torch.ones(bytes / 4);
    var reduceTimes = new List<double>();
    using var time = torch.zeros(1, dtype: ScalarType.Float64);
    for (int r = 0; r <= repeats; r++)
    {
        world.Barrier();
        long start = Stopwatch.GetTimestamp();
        world.AllReduce(buffer, ReduceOp.Sum);
        time.fill_(Stopwatch.GetElapsedTime(start).TotalSeconds);
        world.AllReduce(time, ReduceOp.Max);
        if (r > 0) reduceTimes.Add(time.item<double>());
    }
    // Correctness at this size: every element of every rank's (rank + 1) summed.
    buffer.fill_(world.Rank + 1);
    world.AllReduce(buffer, ReduceOp.Sum);
    using (var wrong = buffer.ne(n * (n + 1) / 2.0).any())
        if (wrong.item<bool>()) throw new InvalidOperationException($"all-reduce of {mb} MB gave a wrong sum");
    var copyTimes = new List<double>();
    if (root)
    {
        using var target = torch.empty_like(buffer);
        for (int r = 0; r <= repeats; r++)
        {
            long start = Stopwatch.GetTimestamp();
            target.copy_(buffer);
            if (r > 0) copyTimes.Add(Stopwatch.GetElapsedTime(start).TotalSeconds);
        }
    }
    world.Barrier();
    if (!root) continue;
    double reduce = Median(reduceTimes), copy = Median(copyTimes);
    double algbw = bytes / reduce / 1e9, busbw = algbw * 2 * (n - 1) / n, copybw = bytes / copy / 1e9;
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"| {mb} MB | {reduce * 1e3:0.00} | {algbw:0.00} | {busbw:0.00} | {copy * 1e3:0.00} | {copybw:0.00} | {busbw / copybw:0.00} |"));
}
if (root) Console.WriteLine($"\nload average {File.ReadAllText("/proc/loadavg").Split(' ')[0]} at the end");
return 0;

static double Median(List<double> values)
{
    var sorted = values.Order().ToList();
    return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
}
