namespace Pretrain.Cli;

/// <summary>Minimal option parsing: positionals, `--name value`, repeated options and flags.</summary>
public sealed class ArgList
{
    private readonly List<string> _positionals = [];
    private readonly List<(string Name, string? Value)> _options = [];
    private readonly HashSet<string> _consumed = [];

    public ArgList(IEnumerable<string> args, params string[] flags)
    {
        var list = args.ToList();
        for (int i = 0; i < list.Count; i++)
        {
            var a = list[i];
            if (!a.StartsWith("--", StringComparison.Ordinal)) { _positionals.Add(a); continue; }
            int eq = a.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0) { _options.Add((a[..eq], a[(eq + 1)..])); continue; }
            bool isFlag = flags.Contains(a) || i + 1 >= list.Count || list[i + 1].StartsWith("--", StringComparison.Ordinal);
            _options.Add((a, isFlag ? null : list[++i]));
        }
    }

    public IReadOnlyList<string> Positionals => _positionals;

    public string? Option(string name)
    {
        _consumed.Add(name);
        var hits = _options.Where(o => o.Name == name).ToList();
        if (hits.Count > 1) throw new UsageException($"{name} given more than once.");
        if (hits.Count == 1 && hits[0].Value is null) throw new UsageException($"{name} needs a value.");
        return hits.Count == 0 ? null : hits[0].Value;
    }

    /// <summary>Whether a flag (an option without a value, listed in the constructor's flags) was given.</summary>
    public bool Flag(string name)
    {
        _consumed.Add(name);
        var hits = _options.Where(o => o.Name == name).ToList();
        if (hits.Any(h => h.Value is not null)) throw new UsageException($"{name} takes no value.");
        return hits.Count > 0;
    }

    public IReadOnlyList<string> Many(string name)
    {
        _consumed.Add(name);
        return _options.Where(o => o.Name == name).Select(o => o.Value ?? throw new UsageException($"{name} needs a value.")).ToList();
    }

    public int Int(string name, int fallback)
    {
        var v = Option(name);
        if (v is null) return fallback;
        return int.TryParse(v, out var n) ? n : throw new UsageException($"{name} must be an integer, got '{v}'.");
    }

    public double Double(string name, double fallback)
    {
        var v = Option(name);
        if (v is null) return fallback;
        return double.TryParse(v, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var d) ? d
            : throw new UsageException($"{name} must be a number, got '{v}'.");
    }

    /// <summary>Throws on any option no command asked for (misspelt options never pass silently).</summary>
    public void RejectUnknown()
    {
        var unknown = _options.Select(o => o.Name).Where(n => !_consumed.Contains(n)).Distinct().ToList();
        if (unknown.Count > 0) throw new UsageException($"unknown option(s): {string.Join(", ", unknown)}. See pretrain --help.");
    }
}
