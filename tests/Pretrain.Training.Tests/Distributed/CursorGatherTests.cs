using Pretrain.Data.Sampling;
using Pretrain.Training.Distributed;

namespace Pretrain.Training.Tests.Distributed;

public sealed class CursorGatherTests
{
    [Fact]
    public void Row_stream_cursors_in_lockstep_are_kept_once_and_a_drifted_rank_is_refused()
    {
        var c = new DataCursor(1, 12, 7, 2, []);
        Assert.Equal(c, CursorGather.Combine([c, c], packedText: false));
        var e = Assert.Throws<InvalidOperationException>(() => CursorGather.Combine([c, c with { SampleInEpoch = 14 }], packedText: false));
        Assert.Contains("rank 1", e.Message);
    }

    [Fact]
    public void Packed_text_cursors_are_combined_with_every_rank_s_progress()
    {
        var r0 = new DataCursor(0, 6, 7, 2, [5, 9]);
        var r1 = new DataCursor(0, 9, 7, 2, [3]);
        var combined = CursorGather.Combine([r0, r1], packedText: true);
        Assert.Equal(ElasticCursor.Combine([r0, r1]), combined);
        Assert.Equal([6L, 9L], combined.Ranks!.Select(p => p.NextIndex));
    }

    [Fact]
    public void A_mix_of_packed_text_is_combined_component_by_component()
    {
        DataCursor Mixed(DataCursor a, DataCursor b) => a with { PendingTokens = [], Mix = new MixCursor(10, [a, b]) };
        var (a0, b0) = (new DataCursor(0, 4, 7, 2, [1]), new DataCursor(0, 2, 7, 2, [2]));
        var (a1, b1) = (new DataCursor(0, 7, 7, 2, [3]), new DataCursor(0, 5, 7, 2, []));
        var combined = CursorGather.Combine([Mixed(a0, b0), Mixed(a1, b1)], packedText: true);
        Assert.Equal(10, combined.Mix!.Position);
        Assert.Equal(ElasticCursor.Combine([a0, a1]), combined.Mix.Components[0]);
        Assert.Equal(ElasticCursor.Combine([b0, b1]), combined.Mix.Components[1]);
    }
}
