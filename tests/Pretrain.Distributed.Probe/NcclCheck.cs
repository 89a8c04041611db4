using System.Diagnostics;
using Pretrain.Distributed.Nccl;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Distributed.Probe;

/// <summary>
/// The GPU check's NCCL phase (tools/gpu/check.sh nccl): world size 1 through the real NCCL calls on cuda:0, the unique
/// id made locally (no MPI there). Out-of-place calls write into NaN-filled outputs, so a result equal to the input
/// shows NCCL's kernel ran and wrote device memory at the address we passed. Prints one "nccl …" line per check and
/// exits non-zero on the first failure.
/// </summary>
internal static class NcclCheck
{
    public static int Run()
    {
        if (!torch.cuda.is_available()) throw new InvalidOperationException("nccl check: no CUDA device (torch.cuda.is_available() is false)");
        var cuda = torch.device("cuda:0");
        using var warm = torch.ones(1, device: cuda); // loads libtorch_cuda, and with it the NCCL PyTorch ships
        var nccl = NcclLibrary.Load();
        Console.WriteLine($"nccl version {nccl.Version}");
        using var comm = new NcclCommunicator(nccl, 0, 0, 1, NcclCommunicator.NewUniqueId(nccl), WaitWithDeadline);
        int failures = 0;
        void Check(string what, Tensor expected, Tensor actual)
        {
            using var e = expected.cpu();
            using var a = actual.cpu();
            using var same = e.dtype == a.dtype && e.shape.SequenceEqual(a.shape) ? e.eq(a).all() : torch.tensor(false);
            bool ok = same.item<bool>();
            Console.WriteLine($"nccl {what}: {(ok ? "ok" : "MISMATCH")}");
            if (!ok) failures++;
        }

        const long n = 1 << 20;
        using (var send = torch.arange(n, dtype: ScalarType.Float32, device: cuda))
        using (var receive = torch.full(n, float.NaN, dtype: ScalarType.Float32, device: cuda))
        {
            comm.AllReduce(send, receive, ReduceOp.Sum);
            Check("all_reduce float32 sum, out of place, 1 M elements", send, receive);
        }
        using (var x = torch.linspace(-3, 3, 1000, device: cuda).to_type(ScalarType.BFloat16))
        using (var copy = x.clone())
        {
            comm.AllReduce(x, ReduceOp.Avg);
            Check("all_reduce bfloat16 avg, in place", copy, x);
        }
        using (var x = torch.arange(-500, 500, dtype: ScalarType.Int64, device: cuda))
        using (var copy = x.clone())
        {
            comm.AllReduce(x, ReduceOp.Max);
            Check("all_reduce int64 max, in place", copy, x);
        }
        using (var x = torch.randn(7, 13, dtype: ScalarType.Float64, device: cuda))
        using (var copy = x.clone())
        {
            comm.Broadcast(x, 0);
            Check("broadcast float64 root 0", copy, x);
        }
        using (var x = torch.randn(5, 3, device: cuda))
        using (var gathered = torch.full([1, 5, 3], float.NaN, device: cuda))
        {
            comm.AllGather(x, gathered);
            Check("all_gather float32 into [1, 5, 3]", x.unsqueeze(0), gathered);
        }
        // A second communicator, aborted: the call the watchdog makes before MPI_Abort.
        var aborted = new NcclCommunicator(nccl, 0, 0, 1, NcclCommunicator.NewUniqueId(nccl), WaitWithDeadline);
        aborted.Abort();
        Console.WriteLine("nccl ncclCommAbort: ok");

        // Time of a 256 MB out-of-place all-reduce at world size 1 (a device-to-device copy inside NCCL), median of 10.
        using (var big = torch.ones(64L << 20, device: cuda))
        using (var into = torch.empty(64L << 20, device: cuda))
        {
            var times = new List<double>();
            for (int i = 0; i < 12; i++)
            {
                var sw = Stopwatch.StartNew();
                comm.AllReduce(big, into, ReduceOp.Sum);
                if (i >= 2) times.Add(sw.Elapsed.TotalSeconds);
            }
            times.Sort();
            double median = (times[4] + times[5]) / 2;
            Console.WriteLine($"nccl all_reduce 256 MB world 1: median {median * 1e3:0.000} ms, {256.0 * (1 << 20) / median / 1e9:0.0} GB/s (copy; no bus traffic at one rank)");
        }
        return failures == 0 ? 0 : 1;
    }

    private static void WaitWithDeadline(string name, Func<bool> done)
    {
        var sw = Stopwatch.StartNew();
        while (!done())
        {
            if (sw.Elapsed > TimeSpan.FromSeconds(60)) throw new TimeoutException($"nccl {name} did not complete within 60 s");
            Thread.Yield();
        }
    }
}
