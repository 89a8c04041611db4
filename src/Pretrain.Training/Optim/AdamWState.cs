using static TorchSharp.torch;

namespace Pretrain.Training.Optim;

/// <summary>
/// The optimizer.safetensors layout both AdamW implementations share: moments keyed "{param}.exp_avg" and
/// "{param}.exp_avg_sq", checked for presence and shape before any of them is copied in.
/// </summary>
internal static class AdamWState
{
    /// <summary>The state tensors of <paramref name="slots"/> (views; copy before keeping).</summary>
    public static Dictionary<string, Tensor> Tensors(IEnumerable<(string Name, Tensor ExpAvg, Tensor ExpAvgSq)> slots)
    {
        var d = new Dictionary<string, Tensor>();
        foreach (var (name, m, v) in slots)
        {
            d[name + ".exp_avg"] = m;
            d[name + ".exp_avg_sq"] = v;
        }
        return d;
    }

    /// <summary>Throws unless both moments of every parameter are in <paramref name="state"/> with the parameter's shape (nothing is copied).</summary>
    public static void Check(IEnumerable<(string Name, long[] Shape)> parameters, IReadOnlyDictionary<string, Tensor> state, string source)
    {
        foreach (var (name, shape) in parameters)
        {
            foreach (var key in new[] { name + ".exp_avg", name + ".exp_avg_sq" })
            {
                if (!state.TryGetValue(key, out var src))
                    throw new InvalidDataException($"{source}: optimizer state has no '{key}'. The checkpoint does not match this model.");
                if (!src.shape.SequenceEqual(shape))
                    throw new InvalidDataException($"{source}: optimizer state '{key}' has shape [{string.Join(", ", src.shape)}], expected [{string.Join(", ", shape)}].");
            }
        }
    }

    /// <summary>Copies <paramref name="state"/> into <paramref name="slots"/>; every moment must be present with its shape.</summary>
    public static void Load(IReadOnlyList<(string Name, Tensor ExpAvg, Tensor ExpAvgSq)> slots, IReadOnlyDictionary<string, Tensor> state, string source)
    {
        Check(slots.Select(s => (s.Name, s.ExpAvg.shape)), state, source);
        using var _ = no_grad();
        foreach (var (name, m, v) in slots)
        {
            m.copy_(state[name + ".exp_avg"]);
            v.copy_(state[name + ".exp_avg_sq"]);
        }
    }
}
