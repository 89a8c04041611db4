using System.Security.Cryptography;
using System.Text;
using Pretrain.Distributed;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Training.Distributed;

/// <summary>
/// Identical weights on every rank: rank 0's parameters and buffers broadcast at the start, and a SHA-256 of every
/// rank's state dict compared (all-gathered) after the broadcast and at the end of the run, so a rank that drifted
/// (a missed all-reduce, a nondeterministic kernel) ends the run naming it instead of training on silently.
/// </summary>
public static class WeightSync
{
    /// <summary>Overwrites every rank's parameters and buffers with rank 0's, then checks the checksums agree.</summary>
    public static string BroadcastFromRankZero(ICollectives ranks, nn.Module model)
    {
        if (ranks.WorldSize > 1)
        {
            using var noGrad = no_grad();
            foreach (var (_, t) in model.state_dict())
            {
                // Constant masks and index buffers (bool, uint8) are built the same everywhere; the checksum covers them.
                if (!t.is_floating_point() && t.dtype is not (ScalarType.Int64 or ScalarType.Int32)) continue;
                if (t.is_contiguous()) ranks.Broadcast(t, 0);
                else
                {
                    using var c = t.contiguous();
                    ranks.Broadcast(c, 0);
                    t.copy_(c);
                }
            }
        }
        return CheckIdentical(ranks, model, "after the broadcast from rank 0");
    }

    /// <summary>The state dict's SHA-256 (hex) when every rank has the same; otherwise throws naming the ranks that differ from rank 0.</summary>
    public static string CheckIdentical(ICollectives ranks, nn.Module model, string when)
    {
        var mine = Checksum(model);
        if (ranks.WorldSize == 1) return mine;
        var all = ranks.AllGatherBytes(Encoding.ASCII.GetBytes(mine)).Select(b => Encoding.ASCII.GetString(b)).ToList();
        var differ = Enumerable.Range(1, all.Count - 1).Where(r => all[r] != all[0]).ToList();
        if (differ.Count > 0)
            throw new InvalidOperationException($"The weights of rank(s) {string.Join(", ", differ)} differ from rank 0's {when} " +
                $"(sha256 {string.Join(", ", all.Select((h, r) => $"rank {r} {h[..12]}"))}); data-parallel ranks must stay bitwise identical.");
        return mine;
    }

    /// <summary>SHA-256 over the state dict's names, dtypes, shapes and bytes, in order.</summary>
    public static string Checksum(nn.Module model)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var (name, t) in model.state_dict())
        {
            sha.AppendData(Encoding.UTF8.GetBytes($"{name}:{t.dtype}:{string.Join(",", t.shape)};"));
            using var cpu = t.detach().cpu().contiguous();
            sha.AppendData(cpu.bytes);
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }
}
