namespace Pretrain.Bench;

/// <summary>What the numbers were measured on.</summary>
public static class Machine
{
    /// <summary>"model name" from /proc/cpuinfo, or "unknown CPU".</summary>
    public static string CpuModel()
    {
        try
        {
            var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
            return line is null ? "unknown CPU" : line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim();
        }
        catch (IOException)
        {
            return "unknown CPU";
        }
    }

    /// <summary>The CPU's vector/matrix flags that decide kernel speed (avx2, fma, avx512*, amx*), from /proc/cpuinfo.</summary>
    public static string CpuFlags()
    {
        try
        {
            var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("flags", StringComparison.Ordinal));
            if (line is null) return "flags unknown";
            var wanted = line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries)
                .Where(f => f is "avx2" or "fma" || f.StartsWith("avx512", StringComparison.Ordinal) || f.StartsWith("amx", StringComparison.Ordinal))
                .Order(StringComparer.Ordinal).ToList();
            return wanted.Count == 0 ? "no avx2/avx512/amx" : string.Join(" ", wanted);
        }
        catch (IOException)
        {
            return "flags unknown";
        }
    }
}
