using System.Globalization;
using System.Text.RegularExpressions;

namespace Pretrain.Training.Checkpointing;

/// <summary>
/// Names inside a checkpoints folder: step-00001000/ (complete), step-00001000.tmp/ (being written),
/// step-00001000.replaced.tmp/ (an old copy set aside while a step is saved again), latest, latest.tmp.
/// </summary>
internal static partial class CheckpointNames
{
    public const string Latest = "latest";
    public const string Manifest = "manifest.json";
    public const string TmpSuffix = ".tmp";

    /// <summary>step-00001000 (8 digits, more if the step needs them).</summary>
    public static string Step(long step) => "step-" + step.ToString("D8", CultureInfo.InvariantCulture);

    /// <summary>A complete step folder name (step-NNNNNNNN, no suffix).</summary>
    public static bool TryParseStep(string name, out long step)
    {
        var m = StepRegex().Match(name);
        step = 0;
        return m.Success && long.TryParse(m.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out step);
    }

    /// <summary>A folder left by an unfinished save: step-NNNNNNNN.tmp or step-NNNNNNNN.replaced.tmp.</summary>
    public static bool TryParseTmp(string name, out long step)
    {
        var m = TmpRegex().Match(name);
        step = 0;
        return m.Success && long.TryParse(m.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out step);
    }

    [GeneratedRegex(@"^step-([0-9]{8,18})$")]
    private static partial Regex StepRegex();

    [GeneratedRegex(@"^step-([0-9]{8,18})(\.replaced)?\.tmp$")]
    private static partial Regex TmpRegex();
}
