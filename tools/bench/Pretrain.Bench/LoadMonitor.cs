using System.Diagnostics;
using System.Globalization;

namespace Pretrain.Bench;

/// <summary>
/// How busy the machine was with other work during a measurement: CPU time of all processes (/proc/stat) minus this
/// process's own, as a fraction of wall time × cores. Reported beside the figures because this machine is shared.
/// </summary>
public sealed class LoadMonitor
{
    private readonly long _t0 = Stopwatch.GetTimestamp();
    private readonly double _busy0 = BusySeconds();
    private readonly double _own0 = OwnSeconds();

    /// <summary>Fraction of all cores used by other processes since construction; NaN where /proc/stat is missing.</summary>
    public double OthersShare()
    {
        double wall = Stopwatch.GetElapsedTime(_t0).TotalSeconds;
        double others = BusySeconds() - _busy0 - (OwnSeconds() - _own0);
        return Math.Clamp(others / (wall * Environment.ProcessorCount), 0, 1);
    }

    private static double OwnSeconds() => Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;

    /// <summary>Non-idle CPU seconds of the whole machine (user, nice, system, irq, softirq, steal) from /proc/stat.</summary>
    private static double BusySeconds()
    {
        try
        {
            string line = File.ReadLines("/proc/stat").First();                 // "cpu  user nice system idle iowait irq softirq steal ..."
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1)
                .Select(v => long.Parse(v, CultureInfo.InvariantCulture)).ToArray();
            long busy = f[0] + f[1] + f[2] + f[5] + f[6] + (f.Length > 7 ? f[7] : 0);
            return busy / 100.0;                                                  // USER_HZ is 100 on Linux
        }
        catch (IOException)
        {
            return double.NaN;
        }
    }
}
