using static TorchSharp.torch;

namespace Pretrain.Training;

/// <summary>The default CPU generator's state as bytes (dropout draws from it), for exact resume.</summary>
public static class RngState
{
    public static byte[] Save()
    {
        using var state = get_rng_state();
        return state.bytes.ToArray();
    }

    public static void Restore(byte[] bytes)
    {
        using var state = tensor(bytes, ScalarType.Byte);
        set_rng_state(state);
    }
}
