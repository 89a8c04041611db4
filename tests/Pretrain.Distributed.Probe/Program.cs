using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Pretrain.Distributed;
using Pretrain.Distributed.Probe;
using TorchSharp;
using static TorchSharp.torch;

// Usage (under mpirun):
//   collectives OUT_DIR          every collective on float32/float64/int64/bfloat16 and bytes; writes OUT_DIR/rank{R}.txt
//   zero OUT_DIR                 ZeRO-1's reduce-scatter and in-place all-gather; writes OUT_DIR/rank{R}.txt
//   stop TIMEOUT_S               one all-reduce, then rank 1 stops itself (SIGSTOP) and the others all-reduce again
//   skip TIMEOUT_S               one all-reduce, then rank 1 sleeps outside any collective while the others all-reduce
//   abort TIMEOUT_S              one all-reduce, then rank 1 calls Abort (a failed rank) while the others all-reduce
//   nccl                         (no mpirun; a GPU) world size 1 through the real NCCL calls: tools/gpu/check.sh nccl
torch.set_num_threads(1);
string scenario = args.Length > 0 ? args[0] : "";
if (scenario == "nccl")
{
    try
    {
        return NcclCheck.Run();
    }
    catch (Exception e) when (e is CollectiveException or InvalidOperationException or TimeoutException)
    {
        Console.WriteLine($"nccl error: {e.Message}");
        return 1;
    }
}
double timeoutS = scenario is "stop" or "skip" or "abort" ? double.Parse(args[1], CultureInfo.InvariantCulture) : 60;
using var world = Collectives.FromEnvironment(new CollectiveOptions(TimeSpan.FromSeconds(timeoutS)));
int rank = world.Rank, size = world.WorldSize;
switch (scenario)
{
    case "collectives":
        File.WriteAllLines(Path.Combine(args[1], $"rank{rank}.txt"), RunAll(world));
        break;
    case "zero":
        File.WriteAllLines(Path.Combine(args[1], $"rank{rank}.txt"), ZeroProbe.Run(world));
        break;
    case "stop":
    case "skip":
    case "abort":
        using (var one = torch.ones(4)) world.AllReduce(one);
        Console.WriteLine($"rank {rank}: pid {Environment.ProcessId} ready");
        Console.Out.Flush();
        if (rank == 1)
        {
            if (scenario == "stop" && Libc.kill(Environment.ProcessId, 19) != 0) throw new InvalidOperationException("kill(SIGSTOP) failed");
            else if (scenario == "abort") world.Abort("the data file row group 3 is damaged (a test)");
            else Thread.Sleep(TimeSpan.FromSeconds(timeoutS * 4));
        }
        using (var two = torch.ones(4)) world.AllReduce(two);
        Console.WriteLine($"rank {rank}: the second all-reduce completed, which it must not");
        break;
    default:
        throw new ArgumentException($"unknown scenario '{scenario}'");
}
return 0;

static IEnumerable<string> RunAll(ICollectives world)
{
    int rank = world.Rank, n = ProbeData.Length;
    var env = RankEnvironment.Detect();
    yield return $"env: {env.Rank} {env.WorldSize} {env.LocalRank} {env.LocalSize} {env.Source}";
    yield return $"world: {world.Rank} {world.WorldSize} {world.LocalRank} {world.Backend}";
    foreach (ReduceOp op in Enum.GetValues<ReduceOp>())
    {
        foreach (var dtype in new[] { ScalarType.Float32, ScalarType.Float64 })
        {
            using var t = torch.tensor(Enumerable.Range(0, n).Select(i => ProbeData.Float(rank, i)).ToArray()).to_type(dtype);
            world.AllReduce(t, op);
            yield return $"all_reduce {dtype} {op}: {ProbeData.Format(t.to_type(ScalarType.Float64).data<double>().ToArray())}";
        }
        if (op != ReduceOp.Avg)
        {
            using var t = torch.tensor(Enumerable.Range(0, n).Select(i => ProbeData.Int64(rank, i)).ToArray());
            world.AllReduce(t, op);
            yield return $"all_reduce Int64 {op}: {ProbeData.Format(t.data<long>().ToArray())}";
        }
    }
    using (var b = torch.tensor(Enumerable.Range(0, n).Select(i => (float)ProbeData.Float(rank, i)).ToArray()).to_type(ScalarType.BFloat16))
    {
        world.AllReduce(b, ReduceOp.Sum);
        yield return $"all_reduce BFloat16 Sum: {ProbeData.Format(b.to_type(ScalarType.Float64).data<double>().ToArray())}";
    }
    string avgError;
    try
    {
        using var i64 = torch.ones(3, dtype: ScalarType.Int64);
        world.AllReduce(i64, ReduceOp.Avg);
        avgError = "none";
    }
    catch (CollectiveException e)
    {
        avgError = e.Message;
    }
    yield return $"all_reduce Int64 Avg error: {avgError}";
    // A view with a storage offset: only its own elements take part.
    using (var whole = torch.zeros(10, dtype: ScalarType.Int64))
    {
        using var view = whole.narrow(0, 3, 4);
        view.fill_(rank + 1);
        world.AllReduce(view, ReduceOp.Sum);
        yield return $"all_reduce view: {ProbeData.Format(whole.data<long>().ToArray())}";
    }
    int root = world.WorldSize - 1;
    using (var t = torch.tensor(Enumerable.Range(0, n).Select(i => ProbeData.Float(rank, i)).ToArray()).reshape(1, n))
    {
        world.Broadcast(t, root);
        yield return $"broadcast Float64 root {root}: {ProbeData.Format(t.data<double>().ToArray())}";
    }
    using (var t = torch.tensor(Enumerable.Range(0, n).Select(i => ProbeData.Int64(rank, i)).ToArray()).reshape(n, 1))
    using (var g = world.AllGather(t))
        yield return $"all_gather Int64 [{string.Join(",", g.shape)}]: {ProbeData.Format(g.data<long>().ToArray())}";
    var gathered = world.AllGatherBytes(ProbeData.Bytes(rank));
    yield return $"all_gather_bytes: {string.Join(" | ", gathered.Select(Convert.ToHexString))}";
    var empty = world.AllGatherBytes(rank == 0 ? ProbeData.Bytes(2) : []);
    yield return $"all_gather_bytes empty others: {string.Join(" | ", empty.Select(Convert.ToHexString))}";
    byte[] sent = world.BroadcastBytes(rank == root ? ProbeData.Bytes(root + 2) : [], root);
    yield return $"broadcast_bytes root {root}: {Convert.ToHexString(sent)}";
    // Barrier: rank 0 arrives late; no rank may leave before it arrives.
    if (rank == 0) Thread.Sleep(300);
    long before = Stopwatch.GetTimestamp();
    world.Barrier();
    double waited = Stopwatch.GetElapsedTime(before).TotalMilliseconds;
    yield return $"barrier waited: {(rank == 0 || waited >= 200 ? "ok" : $"only {waited:0} ms")}";
}

internal static class Libc
{
    [DllImport("libc.so.6")]
    public static extern int kill(int pid, int signal);
}
