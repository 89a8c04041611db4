using Parquet;
using Parquet.Schema;
using Pretrain.Data.Sampling;
using Pretrain.Data.Sources;
using Pretrain.Data.Tests.Hostile;
using Pretrain.Data.Writing;

namespace Pretrain.Fuzz;

/// <summary>Parquet text and token-id sources: footer integers (row counts, offsets, sizes, list lengths) and bytes.</summary>
public sealed class ParquetTarget : IFuzzTarget
{
    private readonly List<(byte[] Bytes, ParquetColumnKind Kind, string Column)> _seeds = [];

    public string Name => "parquet";

    public void Prepare(string workDir)
    {
        string text = Path.Combine(workDir, "text.parquet");
        TextParquetWriter.Write(text, ["alpha", null, "beta gamma", "", "delta", "epsilon zeta eta"], 4);
        _seeds.Add((File.ReadAllBytes(text), ParquetColumnKind.Text, "text"));

        string labelled = Path.Combine(workDir, "labelled.parquet");
        var textField = new DataField<string>("text", true);
        var labelField = new DataField<long>("label");
        WriteLabelled(labelled, textField, labelField).GetAwaiter().GetResult();
        _seeds.Add((File.ReadAllBytes(labelled), ParquetColumnKind.Text, "text"));
    }

    private static async Task WriteLabelled(string path, DataField<string> text, DataField<long> label)
    {
        await using var stream = File.Create(path);
        await using var writer = await ParquetWriter.CreateAsync(new ParquetSchema(text, label), stream);
        for (int g = 0; g < 2; g++)
        {
            using var group = writer.CreateRowGroup();
            await group.WriteAsync(text, new string?[] { "x", "", null, "y z" });
            await group.WriteAsync<long>(label, new long[] { 0, 1, 0, 1 }.AsMemory());
        }
    }

    public FuzzInput Next(Random random)
    {
        var (bytes, kind, column) = _seeds[random.Next(_seeds.Count)];
        byte[] mutated = random.Next(3) switch
        {
            0 => Mutate.Bytes(random, bytes),
            _ => FooterIntegers(random, bytes),
        };
        return new FuzzInput(new Dictionary<string, byte[]> { ["input.parquet"] = mutated }, [kind.ToString(), column]);
    }

    internal static byte[] FooterIntegers(Random random, byte[] file)
    {
        try
        {
            var (start, footer) = ParquetFooter.Split(file);
            var fields = ParquetFooter.Integers(footer);
            var chosen = new Dictionary<string, long>();
            for (int n = random.Next(1, 4); n > 0; n--)
            {
                var (path, value) = fields[random.Next(fields.Count)];
                chosen[path] = Mutate.Integer(random, value);
            }

            return ParquetFooter.WithIntegers(file, chosen);
        }
        catch (Exception e) when (e is InvalidDataException or ArgumentException)
        {
            return Mutate.Bytes(random, file);
        }
    }

    public void Run(FuzzInput input, string dir)
    {
        string path = Path.Combine(dir, "input.parquet");
        var kind = Enum.Parse<ParquetColumnKind>(input.Sets[0]);
        using var source = ParquetTextSource.Open([path], input.Sets[1], kind: kind);
        Trace($"opened: {source.Units.Count} row groups, {source.TotalRows} rows");
        var order = new EpochOrder(source.Units, seed: 1, epoch: 0, shuffle: true);
        for (long p = 0; p < Math.Min(order.Total, 64); p++)
            order.Locate(p);
        Trace("ordered");
        for (int g = 0; g < Math.Min(source.Units.Count, 4); g++)
        {
            Trace($"reading row group {g}");
            if (kind == ParquetColumnKind.Text)
                source.ReadRowGroupAsync(0, g).GetAwaiter().GetResult();
            else
                source.ReadTokenRowGroupAsync(0, g).GetAwaiter().GetResult();
        }
    }

    private static void Trace(string what)
    {
        if (Environment.GetEnvironmentVariable("PRETRAIN_FUZZ_TRACE") == "1")
            Console.Error.WriteLine(what);
    }

    public IReadOnlyList<string> Names(FuzzInput input) => ["input.parquet"];
}
