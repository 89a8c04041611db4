using System.Text;
using Pretrain.Distributed;
using Pretrain.Training.Checkpointing;
using Pretrain.Training.Recipes;

namespace Pretrain.Training.Distributed;

/// <summary>
/// Rank 0 alone touches the run folder (checkpoints, metrics, summary, recipe.yaml, its lock); what it decides or
/// computes reaches the other ranks by broadcast, so every rank takes the same path: a failed checkpoint write fails
/// every rank, a run-folder refusal stops every rank with rank 0's message, and eval metrics are rank 0's everywhere.
/// </summary>
public static class RankZero
{
    /// <summary>
    /// Runs <paramref name="action"/> on rank 0 and broadcasts its outcome: rank 0 gets its value (or its exception),
    /// the others get default, or a <see cref="CheckpointException"/> / <see cref="RecipeException"/> with rank 0's message.
    /// The broadcast is the barrier after the write.
    /// </summary>
    public static T? Run<T>(ICollectives ranks, Func<T> action, bool checkpoint = false)
    {
        if (ranks.WorldSize == 1) return action();
        if (ranks.Rank == 0)
        {
            T value;
            try
            {
                value = action();
            }
            catch (Exception e)
            {
                ranks.BroadcastBytes(Encoding.UTF8.GetBytes("!" + e.Message));
                throw;
            }
            ranks.BroadcastBytes("ok"u8);
            return value;
        }
        string outcome = Encoding.UTF8.GetString(ranks.BroadcastBytes([]));
        if (outcome == "ok") return default;
        string message = $"rank 0 failed, so rank {ranks.Rank} stops too: {outcome[1..]}";
        throw checkpoint ? new CheckpointException(message) : new RecipeException(message);
    }

    /// <summary>Rank 0's metrics on every rank (keep-best and the checkpoint's last_eval then agree everywhere).</summary>
    public static Dictionary<string, double> Metrics(ICollectives ranks, Dictionary<string, double> mine)
    {
        if (ranks.WorldSize == 1) return mine;
        using var buffer = new MemoryStream();
        using (var w = new BinaryWriter(buffer, Encoding.UTF8, leaveOpen: true))
        {
            w.Write(mine.Count);
            foreach (var (k, v) in mine)
            {
                w.Write(k);
                w.Write(v);   // the bits: NaN and ±∞ survive, unlike JSON
            }
        }
        var bytes = ranks.BroadcastBytes(buffer.ToArray());
        using var r = new BinaryReader(new MemoryStream(bytes), Encoding.UTF8);
        int n = r.ReadInt32();
        var result = new Dictionary<string, double>(n);
        for (int i = 0; i < n; i++) result[r.ReadString()] = r.ReadDouble();
        return result;
    }
}
