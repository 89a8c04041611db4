using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Models.Quantization;

/// <summary>
/// 4-bit NormalFloat with double quantization (QLoRA, Dettmers et al. 2023, §3): the flattened weight is cut into
/// blocks of 64; each block is divided by its absmax and every value replaced by the index of the nearest of the 16
/// NF4 code values (<see cref="Codes"/>), two indices packed per byte. The block absmaxes are quantized again
/// ("double quantization"): their mean is subtracted and the rest stored as 8-bit codes with one float32 scale per
/// 256 absmaxes. The paper stores that second level as FP8; this uses symmetric int8 of the same size.
/// Memory: 4 bits per weight + 8 bits per 64 + 32 bits per 64·256 ≈ 4.127 bits.
/// </summary>
public sealed class Nf4Weight : QuantizedWeight
{
    /// <summary>Weights per absmax.</summary>
    public const int BlockSize = 64;

    /// <summary>Absmaxes per second-level scale.</summary>
    public const int AbsmaxBlockSize = 256;

    /// <summary>
    /// The 16 NF4 values of the QLoRA paper (Appendix E; bitsandbytes' table): quantiles of N(0, 1) normalised to
    /// [−1, 1] with an exact 0, 7 negative and 8 positive.
    /// </summary>
    public static readonly float[] Codes =
    [
        -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
        -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
        0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
        0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f,
    ];

    private Tensor _packed = null!;        // (n/2,) uint8: index 2k in the high nibble, 2k+1 in the low
    private Tensor _absmaxCodes = null!;   // (blocks,) int8
    private Tensor _absmaxScales = null!;  // (ceil(blocks/256),) float32
    private double _absmaxOffset;          // mean absmax
    private long _count;                   // elements of the weight

    public override long Bytes => _packed.numel() + _absmaxCodes.numel() + 4 * _absmaxScales.numel() + 4;

    public static Nf4Weight Quantize(Tensor weight)
    {
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var n = weight.numel();
        var blocks = (n + BlockSize - 1) / BlockSize;
        var flat = weight.detach().to_type(ScalarType.Float32).reshape(-1);
        if (blocks * BlockSize != n)
            flat = torch.cat([flat, torch.zeros(blocks * BlockSize - n, device: flat.device)]);
        var x = flat.view(blocks, BlockSize);                                                // (blocks, 64)
        var absmax = x.abs().amax([1]).clamp_min(1e-12);                                     // (blocks,)
        var normed = x / absmax.unsqueeze(1);                                                // in [−1, 1]
        // Nearest code: the codes are sorted, so count how many midpoints lie below each value.
        var codes = torch.tensor(Codes, device: flat.device);
        var mids = (codes[TensorIndex.Slice(1)] + codes[TensorIndex.Slice(0, 15)]) / 2;      // (15,)
        var index = torch.bucketize(normed.reshape(-1), mids);                               // (blocks·64,) int64 in 0..15
        var pairs = index.view(-1, 2);
        var packed = (pairs[TensorIndex.Colon, 0] * 16 + pairs[TensorIndex.Colon, 1]).to_type(ScalarType.Byte);

        // Double quantization of the absmaxes.
        var offset = absmax.mean().item<float>();
        var groups = (blocks + AbsmaxBlockSize - 1) / AbsmaxBlockSize;
        var centred = absmax - offset;
        if (groups * AbsmaxBlockSize != blocks)
            centred = torch.cat([centred, torch.zeros(groups * AbsmaxBlockSize - blocks, device: flat.device)]);
        var g = centred.view(groups, AbsmaxBlockSize);
        var scales = g.abs().amax([1]).clamp_min(1e-12) / 127.0;                             // (groups,)
        var absmaxCodes = (g / scales.unsqueeze(1)).round().clamp(-127, 127).to_type(ScalarType.Int8).reshape(-1)[TensorIndex.Slice(0, blocks)];
        return new Nf4Weight
        {
            Shape = weight.shape,
            _packed = packed.MoveToOuterDisposeScope(),
            _absmaxCodes = absmaxCodes.contiguous().MoveToOuterDisposeScope(),
            _absmaxScales = scales.MoveToOuterDisposeScope(),
            _absmaxOffset = offset,
            _count = n,
        };
    }

    /// <summary>The absmax of every block as dequantized (blocks,): code/127·scale + mean.</summary>
    public Tensor Absmax()
    {
        var blocks = _absmaxCodes.numel();
        var scales = _absmaxScales.repeat_interleave(AbsmaxBlockSize)[TensorIndex.Slice(0, blocks)];
        return _absmaxCodes.to_type(ScalarType.Float32) * scales + _absmaxOffset;
    }

    /// <summary>Unpacks the codes, looks up the NF4 values and scales each block of 64 by its absmax.</summary>
    public override Tensor Dequantize()
    {
        var bytes = _packed.to_type(ScalarType.Int64);
        var index = torch.stack([bytes.div(16, rounding_mode: RoundingMode.floor), bytes.remainder(16)], 1).reshape(-1); // (blocks·64,)
        var table = torch.tensor(Codes, device: _packed.device);
        var values = table.index_select(0, index).view(-1, BlockSize);                      // (blocks, 64)
        var w = (values * Absmax().unsqueeze(1)).reshape(-1);
        return w[TensorIndex.Slice(0, _count)].view(Shape);                                 // (out, in)
    }

    public override void Dispose()
    {
        _packed.Dispose();
        _absmaxCodes.Dispose();
        _absmaxScales.Dispose();
    }
}
