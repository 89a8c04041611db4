using System.Diagnostics;
using System.Globalization;
using Pretrain.Data.Text;

namespace Pretrain.Bench.Tokenizer;

/// <summary>
/// Encodes every line of a text file with one of our tokenizers on the calling thread, REPEATS times after one
/// untimed warm-up pass, and prints <c>NAME TOKENS MEDIAN_SECONDS</c> (tools/bench/tokenizer.sh puts it beside
/// Hugging Face's numbers from tokenizer_hf.cjs). Usage: NAME KIND FILE TEXT REPEATS, KIND hf-json or wordpiece.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length != 5)
        {
            Console.Error.WriteLine("usage: NAME hf-json|wordpiece TOKENIZER_FILE TEXT_FILE REPEATS");
            return 2;
        }
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        var (name, kind, file) = (args[0], args[1], args[2]);
        var lines = File.ReadAllLines(args[3]);
        int repeats = int.Parse(args[4], CultureInfo.InvariantCulture);
        var tokenizer = kind == "wordpiece"
            ? TokenizerFactory.Create(kind, null, "[SEP]", file, ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
            : TokenizerFactory.Create(kind, null, "<|endoftext|>", file);
        long tokens = Encode(tokenizer, lines); // warm-up: JIT, regex compilation, caches
        var seconds = new List<double>();
        for (int r = 0; r < repeats; r++)
        {
            var clock = Stopwatch.StartNew();
            long n = Encode(tokenizer, lines);
            seconds.Add(clock.Elapsed.TotalSeconds);
            if (n != tokens)
                throw new InvalidOperationException($"pass {r} gave {n} tokens, the warm-up {tokens}");
        }
        seconds.Sort();
        Console.WriteLine($"{name} {tokens} {seconds[seconds.Count / 2]:F4}");
        return 0;
    }

    private static long Encode(ITextTokenizer tokenizer, string[] lines)
    {
        long n = 0;
        foreach (var line in lines)
            n += tokenizer.Encode(line).Length;
        return n;
    }
}
