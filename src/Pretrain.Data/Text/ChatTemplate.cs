namespace Pretrain.Data.Text;

/// <summary>
/// A model family's chat format for SFT (<c>tokenizer.chat_template</c>): one user turn and the assistant's answer
/// written with the model's own turn markers, as the family's tokenizer_config.json Jinja template renders them
/// (checked against @huggingface/jinja on the real files where npm has them; docs/tokenizers.md):
/// <list type="bullet">
/// <item><c>llama3</c>: <c>&lt;|begin_of_text|&gt;&lt;|start_header_id|&gt;user&lt;|end_header_id|&gt;\n\n{prompt|trim}&lt;|eot_id|&gt;&lt;|start_header_id|&gt;assistant&lt;|end_header_id|&gt;\n\n</c> then <c>{response|trim}&lt;|eot_id|&gt;</c>.</item>
/// <item><c>qwen</c> (Qwen3, a non-thinking answer): <c>&lt;|im_start|&gt;user\n{prompt}&lt;|im_end|&gt;\n&lt;|im_start|&gt;assistant\n&lt;think&gt;\n\n&lt;/think&gt;\n\n</c> then <c>{response}&lt;|im_end|&gt;\n</c>.</item>
/// <item><c>mistral</c> (tokenizer v3, Mistral-7B-Instruct-v0.3): <c>&lt;s&gt;[INST] {prompt}[/INST]</c> then <c> {response}&lt;/s&gt;</c>.</item>
/// <item><c>phi3</c>: <c>&lt;|user|&gt;\n{prompt}&lt;|end|&gt;\n&lt;|assistant|&gt;\n</c> then <c>{response}&lt;|end|&gt;\n&lt;|endoftext|&gt;</c>.</item>
/// </list>
/// The whole conversation is encoded as one text, so ids equal the tokenization of the rendered template; the prompt
/// part is the longest prefix shared with the encoding of the prompt alone (the rest, answer and end markers, are targets).
/// </summary>
public sealed class ChatTemplate
{
    /// <summary>Valid values of <c>tokenizer.chat_template</c>.</summary>
    public static IReadOnlyList<string> Names { get; } = ["llama3", "qwen", "mistral", "phi3"];

    private readonly ITextTokenizer _tokenizer;
    private readonly Func<string, string> _prompt;
    private readonly Func<string, string> _response;

    private ChatTemplate(string name, ITextTokenizer tokenizer, Func<string, string> prompt, Func<string, string> response)
    {
        Name = name;
        _tokenizer = tokenizer;
        _prompt = prompt;
        _response = response;
    }

    public string Name { get; }

    private sealed record Format(string[] Markers, Func<string, string> Prompt, Func<string, string> Response);

    /// <summary>The template <paramref name="name"/> over <paramref name="tokenizer"/>, which must have each of its turn markers as one token.</summary>
    /// <exception cref="DataException">Unknown name, or a marker the tokenizer splits into several ids.</exception>
    public static ChatTemplate Create(string name, ITextTokenizer tokenizer)
    {
        var (markers, prompt, response) = name switch
        {
            "llama3" => new Format(["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
                p => $"<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n{JinjaTrim(p)}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
                r => $"{JinjaTrim(r)}<|eot_id|>"),
            "qwen" => new Format(["<|im_start|>", "<|im_end|>"],
                p => $"<|im_start|>user\n{p}<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n",
                r => $"{r.TrimStart('\n')}<|im_end|>\n"),
            "mistral" => new Format(["<s>", "</s>", "[INST]", "[/INST]"],
                p => $"<s>[INST] {p}[/INST]",
                r => $" {r}</s>"),
            "phi3" => new Format(["<|user|>", "<|end|>", "<|assistant|>", "<|endoftext|>"],
                p => $"<|user|>\n{p}<|end|>\n<|assistant|>\n",
                r => $"{r}<|end|>\n<|endoftext|>"),
            _ => throw new DataException($"tokenizer.chat_template '{name}' is unknown; valid: {string.Join(", ", Names)}."),
        };
        foreach (string marker in markers)
        {
            int[] ids = tokenizer.Encode(marker);
            if (ids.Length != 1 || tokenizer.Decode(ids) != marker)
            {
                throw new DataException(
                    $"tokenizer.chat_template '{name}' needs '{marker}' as one special token, but this {tokenizer.Kind} tokenizer encodes it as " +
                    $"{ids.Length} ids; use the model's own tokenizer.json (or add '{marker}' to tokenizer.special_tokens).");
            }
        }

        return new ChatTemplate(name, tokenizer, prompt, response);
    }

    /// <summary>The prompt as rendered (up to and including the assistant's header).</summary>
    public string RenderPrompt(string prompt) => _prompt(prompt);

    /// <summary>The whole turn as rendered: prompt, answer and the turn's end markers.</summary>
    public string Render(string prompt, string response) => _prompt(prompt) + _response(response);

    /// <summary>Ids of the rendered turn, and how many of them belong to the prompt.</summary>
    public (int[] Ids, int PromptLength) Encode(string prompt, string response)
    {
        int[] full = _tokenizer.Encode(Render(prompt, response));
        int[] head = _tokenizer.Encode(RenderPrompt(prompt));
        int n = 0;
        while (n < head.Length && n < full.Length && head[n] == full[n])
        {
            n++;
        }

        return (full, n);
    }

    /// <summary>Jinja's <c>trim</c> as @huggingface/jinja runs it (JavaScript's String.prototype.trim).</summary>
    private static string JinjaTrim(string s) => s.Trim(' ', '\t', '\n', '\v', '\f', '\r', '\u00A0', '\u1680', '\u2000', '\u2001', '\u2002',
        '\u2003', '\u2004', '\u2005', '\u2006', '\u2007', '\u2008', '\u2009', '\u200A', '\u2028', '\u2029', '\u202F', '\u205F', '\u3000', '\uFEFF');
}
