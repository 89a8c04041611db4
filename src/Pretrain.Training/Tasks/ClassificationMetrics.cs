namespace Pretrain.Training.Tasks;

/// <summary>
/// Accuracy, macro-F1 and the confusion matrix of a classifier, accumulated batch by batch. Confusion[i, j] counts
/// rows of true class i predicted as j. Macro-F1 averages per-class F1 over every class (a class never true nor
/// predicted scores 0, as scikit-learn's zero_division=0).
/// </summary>
public sealed class ClassificationMetrics(int numClasses)
{
    /// <summary>Counts: [true, predicted].</summary>
    public long[,] Confusion { get; } = new long[numClasses, numClasses];

    public int NumClasses { get; } = numClasses;

    /// <summary>Rows counted.</summary>
    public long Count { get; private set; }

    /// <summary>Adds one row.</summary>
    public void Add(long truth, long predicted)
    {
        Confusion[truth, predicted]++;
        Count++;
    }

    /// <summary>Share of rows predicted right (0 when empty).</summary>
    public double Accuracy
    {
        get
        {
            long right = 0;
            for (int i = 0; i < NumClasses; i++) right += Confusion[i, i];
            return Count == 0 ? 0 : (double)right / Count;
        }
    }

    /// <summary>Unweighted mean of per-class F1 = 2·tp / (2·tp + fp + fn).</summary>
    public double MacroF1
    {
        get
        {
            double sum = 0;
            for (int c = 0; c < NumClasses; c++)
            {
                long tp = Confusion[c, c], fp = 0, fn = 0;
                for (int o = 0; o < NumClasses; o++)
                {
                    if (o == c) continue;
                    fp += Confusion[o, c];
                    fn += Confusion[c, o];
                }
                long denominator = 2 * tp + fp + fn;
                sum += denominator == 0 ? 0 : 2.0 * tp / denominator;
            }
            return sum / NumClasses;
        }
    }

    /// <summary>eval_accuracy, eval_macro_f1 and eval_confusion_i_j under <paramref name="prefix"/> (e.g. "eval_").</summary>
    public Dictionary<string, double> ToDictionary(string prefix)
    {
        var result = new Dictionary<string, double>
        {
            [$"{prefix}accuracy"] = Accuracy,
            [$"{prefix}macro_f1"] = MacroF1,
            [$"{prefix}rows"] = Count,
        };
        for (int i = 0; i < NumClasses; i++)
            for (int j = 0; j < NumClasses; j++)
                result[$"{prefix}confusion_{i}_{j}"] = Confusion[i, j];
        return result;
    }
}
