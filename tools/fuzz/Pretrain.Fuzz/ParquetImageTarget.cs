using Parquet;
using Parquet.Schema;
using Pretrain.Data.Sources;
using Pretrain.Data.Writing;

namespace Pretrain.Fuzz;

/// <summary>
/// Parquet image and label sources (<see cref="ParquetImageSource"/>, <see cref="ParquetLabelColumn"/>): the same
/// mutations as <see cref="ParquetTarget"/> (footer integers, bytes) on image files (Hugging Face struct layout with an
/// int64 label; plain binary with a nullable int32 label, uncompressed) and a labelled text file read through the label
/// column, as a classification stream reads them.
/// </summary>
public sealed class ParquetImageTarget : IFuzzTarget
{
    private readonly List<(byte[] Bytes, string Kind)> _seeds = [];

    public string Name => "parquet-image";

    public void Prepare(string workDir)
    {
        var random = new Random(5);
        byte[] Image(int n) { var b = new byte[n]; random.NextBytes(b); return b; }

        string hf = Path.Combine(workDir, "images.parquet");
        ImageParquetWriter.Write(hf, [new(Image(40), "a.png", 0), new(Image(3), null, 2), new(Image(0), "c.png", 1), new(Image(17), "d.png", 0), new(Image(9), "e.png", 1)], 3);
        _seeds.Add((File.ReadAllBytes(hf), "image"));

        string plain = Path.Combine(workDir, "plain.parquet");
        WritePlain(plain, Image).GetAwaiter().GetResult();
        _seeds.Add((File.ReadAllBytes(plain), "image"));

        string labelled = Path.Combine(workDir, "labelled.parquet");
        WriteLabelled(labelled).GetAwaiter().GetResult();
        _seeds.Add((File.ReadAllBytes(labelled), "label"));
    }

    private static async Task WritePlain(string path, Func<int, byte[]> image)
    {
        var bytes = new DataField<byte[]>("image", true);
        var label = new DataField<int?>("label");
        await using var stream = File.Create(path);
        var options = new ParquetOptions { CompressionMethod = CompressionMethod.None };
        await using var writer = await ParquetWriter.CreateAsync(new ParquetSchema(bytes, label), stream, options);
        for (int g = 0; g < 2; g++)
        {
            using var group = writer.CreateRowGroup();
            await group.WriteAsync(bytes, new[] { image(12), null, image(30), image(1) });
            await group.WriteAsync<int>(label, new int?[] { 1, null, 0, 3 }.AsMemory());
        }
    }

    private static async Task WriteLabelled(string path)
    {
        var text = new DataField<string>("text", true);
        var label = new DataField<long?>("label");
        await using var stream = File.Create(path);
        await using var writer = await ParquetWriter.CreateAsync(new ParquetSchema(text, label), stream);
        for (int g = 0; g < 2; g++)
        {
            using var group = writer.CreateRowGroup();
            await group.WriteAsync(text, new string?[] { "x", "", null, "y z", "w" });
            await group.WriteAsync<long>(label, new long?[] { 0, 1, null, 1, 5 }.AsMemory());
        }
    }

    public FuzzInput Next(Random random)
    {
        var (bytes, kind) = _seeds[random.Next(_seeds.Count)];
        byte[] mutated = random.Next(3) == 0 ? Mutate.Bytes(random, bytes) : ParquetTarget.FooterIntegers(random, bytes);
        return new FuzzInput(new Dictionary<string, byte[]> { ["input.parquet"] = mutated }, [kind]);
    }

    public void Run(FuzzInput input, string dir)
    {
        string path = Path.Combine(dir, "input.parquet");
        if (input.Sets[0] == "image")
        {
            using var source = ParquetImageSource.Open([path], "image", "label");
            foreach (var unit in source.Units.Take(4))
                source.ReadRowGroupAsync(unit.File, unit.RowGroup).GetAwaiter().GetResult();
            return;
        }

        // A labelled text stream's reads: the text source orders the rows, the label column reads beside it.
        using var text = ParquetTextSource.Open([path], "text");
        using var labels = ParquetLabelColumn.Open([path], "label", "data.train");
        foreach (var unit in text.Units.Take(4))
        {
            text.ReadRowGroupAsync(unit.File, unit.RowGroup).GetAwaiter().GetResult();
            labels.ReadRowGroupAsync(unit.File, unit.RowGroup).GetAwaiter().GetResult();
        }
    }

    public IReadOnlyList<string> Names(FuzzInput input) => ["input.parquet"];
}
