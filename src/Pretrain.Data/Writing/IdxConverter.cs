using Pretrain.Data.Vision;

namespace Pretrain.Data.Writing;

/// <summary>
/// IDX image + label files (MNIST, Fashion-MNIST…; gzipped or not) → Parquet shards in the Hugging Face image layout:
/// each image encoded as a gray PNG in <c>image</c> {bytes, path: "&lt;index&gt;.png"}, its label as int64 <c>label</c>.
/// Rows keep the IDX order (row i = item i).
/// </summary>
public static class IdxConverter
{
    /// <exception cref="DataException">Unreadable IDX files, or images and labels that do not match.</exception>
    public static PreparedDataset Convert(string imagesPath, string labelsPath, string outDir, int rowsPerGroup = 1000, int rowsPerFile = 50_000,
        IReadOnlyList<string>? classes = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rowsPerGroup, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(rowsPerFile, 1);
        var images = IdxFile.Read(imagesPath);
        var labels = IdxFile.Read(labelsPath);
        if (images.Dimensions.Count != 3)
        {
            throw new DataException(
                $"{imagesPath}: IDX images need 3 dimensions [count, rows, columns]; this file has [{string.Join(", ", images.Dimensions)}]. " +
                "Give the images file first, then the labels file.");
        }

        if (labels.Dimensions.Count != 1)
        {
            throw new DataException(
                $"{labelsPath}: IDX labels need 1 dimension [count]; this file has [{string.Join(", ", labels.Dimensions)}]. " +
                "Give the images file first, then the labels file.");
        }

        if (images.Count != labels.Count)
        {
            throw new DataException($"{imagesPath} holds {images.Count} images but {labelsPath} holds {labels.Count} labels; they must be a pair.");
        }

        if (classes is not null && labels.Data.Any(l => l >= classes.Count))
        {
            throw new DataException($"{labelsPath}: label {labels.Data.Max()} has no name among the {classes.Count} classes given.");
        }

        int height = images.Dimensions[1], width = images.Dimensions[2];
        IEnumerable<IReadOnlyList<ImageRow>> Shards()
        {
            for (int start = 0; start < images.Count; start += rowsPerFile)
            {
                int n = Math.Min(rowsPerFile, images.Count - start);
                var rows = new ImageRow[n];
                Parallel.For(0, n, i =>
                {
                    int index = start + i;
                    rows[i] = new ImageRow(ImageCodec.EncodeGray(images.Item(index), width, height), $"{index}.png", labels.Data[index]);
                });
                yield return rows;
            }
        }

        return ImageShards.Write(outDir, Shards(), rowsPerGroup, classes);
    }
}
