namespace Pretrain.Data.Sampling;

/// <summary>
/// Start cursor and option checks shared by the row-walk streams (images, labelled text, SFT pairs): one row is one
/// sample, the cursor is <see cref="RankWalk"/>'s end-of-round position, and the sampling settings mean the same.
/// </summary>
internal static class RowWalkSetup
{
    /// <summary>The cursor to start from: a fresh one, or <paramref name="resume"/> after checking it was written with the same seed.</summary>
    public static DataCursor StartCursor(string configKey, int seed, int worldSize, DataCursor? resume)
    {
        if (resume is null)
            return DataCursor.Start(seed, worldSize);
        if (resume.Seed != seed)
        {
            throw new DataException(
                $"{configKey}: the resume cursor was written with seed {resume.Seed} but the data seed is {seed}; " +
                "resuming would repeat and skip samples. Use the original seed.");
        }
        if (resume.Epoch < 0 || resume.SampleInEpoch < 0)
            throw new DataException($"{configKey}: invalid resume cursor {resume}.");
        return resume with { WorldSize = worldSize, PendingTokens = [] };
    }

    /// <summary>Checks the sampling settings every row-walk stream has; throws <see cref="DataException"/> naming the key.</summary>
    public static void CheckSampling(string k, int worldSize, int rank, int prefetch, int shuffleWindow, double holdoutFraction,
        double labelFraction, int? maxEpochs)
    {
        Check(worldSize >= 1 && rank >= 0 && rank < worldSize, $"{k}: rank {rank} is not in 0..{worldSize - 1}.");
        Check(prefetch >= 1, $"{k}: prefetch must be at least 1 (got {prefetch}).");
        Check(shuffleWindow >= 1, $"{k}.shuffle_window must be at least 1 (got {shuffleWindow}).");
        Check(holdoutFraction is >= 0 and <= 1, $"{k}: holdout fraction must be in [0, 1] (got {holdoutFraction}).");
        Check(labelFraction is > 0 and <= 1, $"{k}.label_fraction must be in (0, 1] (got {labelFraction}).");
        Check(maxEpochs is null or >= 1, $"{k}: max epochs must be at least 1 (got {maxEpochs}).");
    }

    public static void Check(bool ok, string message)
    {
        if (!ok)
            throw new DataException(message);
    }
}
