namespace Pretrain.Onnx.Generation;

/// <summary>Decoding settings of <c>pretrain generate</c>. Temperature 0 is greedy (argmax), and then top-k/top-p/seed do not matter.</summary>
public sealed record GenerationOptions
{
    /// <summary>Tokens to add at most (<c>--max-new-tokens</c>).</summary>
    public int MaxNewTokens { get; init; } = 50;

    /// <summary>Softmax temperature; 0 means greedy (<c>--temperature</c>).</summary>
    public double Temperature { get; init; }

    /// <summary>Sample among the k most likely tokens; 0 means all (<c>--top-k</c>).</summary>
    public int TopK { get; init; }

    /// <summary>Sample among the smallest set of tokens whose probability reaches p; 1 means all (<c>--top-p</c>).</summary>
    public double TopP { get; init; } = 1.0;

    /// <summary>Seed of the sampler (<c>--seed</c>).</summary>
    public int Seed { get; init; }

    /// <summary>Ids at or above this are never chosen (the tokenizer's vocabulary when the model's table is padded); null means all.</summary>
    public int? VocabLimit { get; init; }

    /// <summary>Throws an <see cref="ArgumentException"/> naming the bad flag.</summary>
    public void Check()
    {
        if (MaxNewTokens < 0)
            throw new ArgumentException($"--max-new-tokens ({MaxNewTokens}) must be 0 or more.");
        if (!(Temperature >= 0) || double.IsInfinity(Temperature))
            throw new ArgumentException($"--temperature ({Temperature}) must be 0 (greedy) or positive.");
        if (TopK < 0)
            throw new ArgumentException($"--top-k ({TopK}) must be 0 (off) or positive.");
        if (!(TopP > 0 && TopP <= 1))
            throw new ArgumentException($"--top-p ({TopP}) must be in (0, 1].");
    }
}
