using System.Text.Json;
using Pretrain.Data.Text;

namespace Pretrain.Data.Tests.Text;

/// <summary>A tiny GPT-2-style byte-level BPE: ids 0..255 are the byte alphabet (id = byte value), then a few merges.</summary>
internal static class TinyBpe
{
    public static readonly string[] Merges = ["h e", "l l", "he ll", "hell o", "Ġ w", "Ġw o", "Ġwo r", "Ġwor l", "Ġworl d"];

    /// <summary>Token → id: the 256 byte characters, then one token per merge in order.</summary>
    public static Dictionary<string, int> Vocab()
    {
        var vocab = new Dictionary<string, int>();
        for (int b = 0; b < 256; b++)
        {
            vocab[ByteLevelAlphabet.ByteToChar[b].ToString()] = b;
        }

        foreach (string m in Merges)
        {
            vocab[m.Replace(" ", "", StringComparison.Ordinal)] = vocab.Count;
        }

        return vocab;
    }

    public static void Write(string directory, bool withEndOfText = false)
    {
        var vocab = Vocab();
        if (withEndOfText)
        {
            vocab["<|endoftext|>"] = vocab.Count;
        }

        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "vocab.json"), JsonSerializer.Serialize(vocab));
        File.WriteAllText(Path.Combine(directory, "merges.txt"), "#version: 0.2\n" + string.Join("\n", Merges) + "\n");
    }
}
