namespace Pretrain.Fuzz;

/// <summary>One input: files to write into a fresh folder (name → bytes) and, for recipes, --set texts.</summary>
public sealed record FuzzInput(IReadOnlyDictionary<string, byte[]> Files, IReadOnlyList<string> Sets);

/// <summary>A reader under test: makes mutated inputs from its seeds and runs the reader on one.</summary>
public interface IFuzzTarget
{
    string Name { get; }

    /// <summary>Builds the seed corpus (valid files made here, nothing downloaded) in <paramref name="workDir"/>.</summary>
    void Prepare(string workDir);

    FuzzInput Next(Random random);

    /// <summary>Reads the input written in <paramref name="dir"/> as a user's command would; throws what the reader throws.</summary>
    void Run(FuzzInput input, string dir);

    /// <summary>Texts of which a refusal message must contain one (the file names, or "--set").</summary>
    IReadOnlyList<string> Names(FuzzInput input);
}
