using static TorchSharp.torch;

namespace Pretrain.Models.Vision;

/// <summary>
/// Images ↔ flattened patches in MAE's layout: patches row-major over the grid, each patch's values ordered
/// (row in patch, column in patch, channel) — MAE's <c>einsum('nchpwq->nhwpqc')</c>.
/// </summary>
public static class ImagePatches
{
    /// <summary>(B, C, H, W) → (B, N, p·p·C) with N = (H/p)·(W/p).</summary>
    public static Tensor Patchify(Tensor images, int patchSize)
    {
        var (b, c, h, w) = (images.shape[0], images.shape[1], images.shape[2], images.shape[3]);
        if (h % patchSize != 0 || w % patchSize != 0)
            throw new ArgumentException($"Images {h}×{w} do not divide into {patchSize}×{patchSize} patches.", nameof(images));
        var (gh, gw) = (h / patchSize, w / patchSize);
        var x = images.reshape(b, c, gh, patchSize, gw, patchSize); // (B, C, gh, p, gw, q)
        x = x.permute(0, 2, 4, 3, 5, 1);                            // (B, gh, gw, p, q, C)
        return x.reshape(b, gh * gw, patchSize * patchSize * c);
    }

    /// <summary>(B, N, p·p·C) → (B, C, gh·p, gw·p); the grid is square (√N per side) unless <paramref name="gridHeight"/> is given.</summary>
    public static Tensor Unpatchify(Tensor patches, int patchSize, int channels, int? gridHeight = null)
    {
        var (b, n) = (patches.shape[0], patches.shape[1]);
        if (patches.shape[2] != (long)patchSize * patchSize * channels)
            throw new ArgumentException($"Patches hold {patches.shape[2]} values, not {patchSize}·{patchSize}·{channels}.", nameof(patches));
        var gh = gridHeight ?? (long)Math.Round(Math.Sqrt(n));
        if (gh <= 0 || n % gh != 0 || (gridHeight is null && gh * gh != n))
            throw new ArgumentException($"{n} patches do not form a {(gridHeight is null ? "square " : "")}grid{(gridHeight is null ? "" : $" of height {gh}")}.", nameof(patches));
        var gw = n / gh;
        var x = patches.reshape(b, gh, gw, patchSize, patchSize, channels); // (B, gh, gw, p, q, C)
        x = x.permute(0, 5, 1, 3, 2, 4);                                    // (B, C, gh, p, gw, q)
        return x.reshape(b, channels, gh * patchSize, gw * patchSize);
    }
}
