using System.Text;

namespace Pretrain.Data.Sampling;

/// <summary>
/// Hashes and a small PRNG whose output is fixed by this code alone (not by the .NET version), so data order and
/// held-out splits stay the same across machines, runtimes and resumes.
/// </summary>
public static class StableHash
{
    private const ulong Golden = 0x9E3779B97F4A7C15UL;

    /// <summary>SplitMix64 finalizer: a bijective 64-bit mix.</summary>
    public static ulong Mix(ulong x)
    {
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }

    /// <summary>Order-dependent hash of several values.</summary>
    public static ulong Combine(params ReadOnlySpan<ulong> values)
    {
        ulong h = 0x243F6A8885A308D3UL;
        foreach (ulong v in values)
        {
            h = Mix(h ^ Mix(v + Golden));
        }

        return h;
    }

    /// <summary>FNV-1a over the UTF-8 bytes, then mixed.</summary>
    public static ulong OfString(string s)
    {
        ulong h = 0xCBF29CE484222325UL;
        foreach (byte b in Encoding.UTF8.GetBytes(s))
        {
            h = (h ^ b) * 0x100000001B3UL;
        }

        return Mix(h);
    }

    /// <summary>Maps a hash to [0, 1) using its top 53 bits.</summary>
    public static double ToUnit(ulong h) => (h >> 11) * (1.0 / (1UL << 53));

    /// <summary>Fisher–Yates shuffle of <paramref name="items"/> driven by a SplitMix64 stream from <paramref name="seed"/>.</summary>
    public static void Shuffle<T>(Span<T> items, ulong seed)
    {
        ulong state = seed;
        for (int i = items.Length - 1; i > 0; i--)
        {
            state += Golden;
            int j = (int)(Mix(state) % (ulong)(i + 1)); // modulo bias < 2^-32 for any list that fits in memory
            (items[i], items[j]) = (items[j], items[i]);
        }
    }
}
