using Pretrain.Training.Optim;

namespace Pretrain.Training.Tests.Optim;

public sealed class LrScheduleTests
{
    [Fact]
    public void Cosine_warms_up_linearly_then_decays_to_the_floor()
    {
        var s = new LrSchedule("cosine", 1.0, warmup: 10, total: 110, minRatio: 0.1);
        Assert.Equal(0.1, s.At(0), 12);
        Assert.Equal(1.0, s.At(9), 12);
        Assert.Equal(1.0, s.At(10), 12);
        Assert.Equal(0.55, s.At(60), 12);      // half way: min + 0.5·(peak − min)
        Assert.Equal(0.1, s.At(110), 12);
        Assert.Equal(0.1, s.At(500), 12);      // stays at the floor past the end
    }

    [Fact]
    public void Linear_and_constant_shapes()
    {
        Assert.Equal(0.55, new LrSchedule("linear", 1.0, 0, 100, 0.1).At(50), 12);
        Assert.Equal(2.0, new LrSchedule("constant", 2.0, 0, 100, 0.1).At(99), 12);
    }
}
