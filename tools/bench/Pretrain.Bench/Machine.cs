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
}
