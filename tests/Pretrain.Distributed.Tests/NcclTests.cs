using System.Runtime.InteropServices;
using Pretrain.Distributed.Nccl;

namespace Pretrain.Distributed.Tests;

/// <summary>
/// What the NCCL backend does without a GPU: a missing libnccl.so.2 is one clear error, raised before MPI starts.
/// Its real calls run in the GPU check (tools/gpu/check.sh nccl).
/// </summary>
public sealed class NcclTests
{
    [Fact]
    public void A_missing_nccl_is_one_error_saying_what_to_install()
    {
        var e = Assert.Throws<CollectiveException>(() => NcclLibrary.LoadUncached("libnccl-absent.so.2"));
        Assert.Contains("NCCL (libnccl-absent.so.2)", e.Message);
        Assert.Contains("libnccl2", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void On_a_machine_without_nccl_the_mpi_nccl_backend_fails_before_mpi_starts()
    {
        if (NativeLibrary.TryLoad(NcclLibrary.DefaultLibrary, out IntPtr handle))
        {
            NativeLibrary.Free(handle);
            return; // this machine has NCCL: the error cannot be shown here (the GPU check covers the working path)
        }
        var environment = new RankEnvironment(0, 2, 0, 2, "mpirun");
        var e = Assert.Throws<CollectiveException>(() => new MpiNcclCollectives(new CollectiveOptions(TimeSpan.FromSeconds(10), "cuda"), environment));
        Assert.Contains("libnccl.so.2", e.Message);
    }

    [Theory]
    [InlineData("cuda", 3, 3)]
    [InlineData("cuda:1", 3, 1)]
    [InlineData(" CUDA:0 ", 2, 0)]
    public void The_cuda_device_is_the_local_rank_unless_named(string device, int localRank, int expected) =>
        Assert.Equal(expected, MpiNcclCollectives.CudaIndex(device, localRank));

    [Fact]
    public void A_cpu_device_is_not_a_cuda_device_for_nccl() =>
        Assert.Contains("needs a CUDA device", Assert.Throws<CollectiveException>(() => MpiNcclCollectives.CudaIndex("cpu", 0)).Message);
}
