using Pretrain.Distributed.Mpi;

namespace Pretrain.Distributed.Tests;

public sealed class MpiLibraryTests
{
    [Fact]
    public void A_missing_library_is_one_error_naming_the_packages_to_install()
    {
        var e = Assert.Throws<CollectiveException>(() => MpiLibrary.LoadUncached("libmpi-absent.so.40"));
        Assert.Contains("libmpi-absent.so.40", e.Message);
        Assert.Contains("apt-get install openmpi-bin libopenmpi-dev", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Counts_above_int_max_are_split_into_int_sized_calls_covering_the_buffer_once()
    {
        long total = (1L << 31) + 5; // 2^31 + 5 elements: one call cannot carry it
        var chunks = Chunks.Of(total, int.MaxValue).ToList();
        Assert.Equal([(0L, int.MaxValue), (int.MaxValue, 6)], chunks);
        Assert.Equal([(0L, 5), (5L, 5), (10L, 1)], Chunks.Of(11, 5));
        Assert.Empty(Chunks.Of(0, 5));
    }

    [Fact]
    public void Collective_options_reject_a_non_positive_timeout() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new CollectiveOptions(TimeSpan.Zero).Validate());
}
