using Pretrain.Models.Text;
using Pretrain.Onnx.Proto;

namespace Pretrain.Onnx.Import;

/// <summary>
/// Recognises a BERT-family encoder in an ONNX graph by its structure, not by one exporter's names: embedding
/// Gathers (by the graph input feeding them), LayerNorms (fused or decomposed) and Linear layers (MatMul/Gemm on
/// initializers) in graph order; L = Linear layers / 6, post-LN when there are 2L + 1 LayerNorms, pre-LN with 2L + 2.
/// Within a layer, q/k/v are told apart by where their outputs enter the attention MatMuls. Names the file does give
/// (exports keep biases' and LayerNorms' Hugging Face names) must agree with the structure, or the import stops.
/// </summary>
internal static partial class BertGraphAnalyzer
{
    private const string Layer = "encoder.layer.";

    public static BertOnnxLayout Analyze(OnnxGraphIndex g, string source, BertImportOptions options)
    {
        var foreign = g.Graph.Node.Where(n => n.Domain is not ("" or "ai.onnx")).Select(n => $"{n.Domain}.{n.OpType}").Distinct().ToList();
        if (foreign.Count > 0)
            throw Fail(source, $"the graph uses operators outside the standard ONNX domain ({string.Join(", ", foreign.Take(6))}), as ONNX Runtime's transformer optimizer writes; import the unoptimized export instead.");
        var outputName = options.OutputName
            ?? (g.Graph.Output.Any(o => o.Name == "last_hidden_state") ? "last_hidden_state" : g.Graph.Output.FirstOrDefault()?.Name)
            ?? throw Fail(source, "the graph has no outputs.");
        if (g.Producer(outputName) is null)
            throw Fail(source, $"no node writes the output '{outputName}'; pass the hidden-state output's name.");
        var backbone = Ancestors(g, outputName, throughShape: true);
        bool InBackbone(string value) => g.Producer(value) is { } p && backbone.Contains(p);

        var norms = OnnxPatterns.LayerNorms(g).Where(n => InBackbone(n.Output)).ToList();
        var allLinears = OnnxPatterns.Linears(g);
        var linears = allLinears.Where(l => InBackbone(l.Output)).OrderBy(l => l.Order).ToList();
        var pooler = allLinears.Where(l => !InBackbone(l.Output) && g.Consumers(l.Output).Any(c => c.Node.OpType == "Tanh")).ToList();
        var inferred = new List<string>();

        // Embeddings: word and segment tables are indexed by graph inputs, the position table by a computed range.
        var embeddings = OnnxPatterns.Embeddings(g).Where(e => InBackbone(e.Output)).ToList();
        var indexed = embeddings.Where(e => e.Source is not null).ToList();
        var word = indexed.FirstOrDefault(e => e.Source!.Contains("input_ids", StringComparison.Ordinal))
            ?? indexed.OrderByDescending(e => Rows(g, e)).FirstOrDefault()
            ?? throw Fail(source, "no embedding lookup (Gather on a weight table) is fed by a graph input such as input_ids.");
        var type = indexed.Where(e => e != word).OrderByDescending(e => e.Source!.Contains("token_type", StringComparison.Ordinal)).FirstOrDefault();
        var positions = embeddings.Where(e => e.Source is null).ToList();
        if (positions.Count != 1)
            throw Fail(source, $"expected one position-embedding lookup (a Gather not fed by a graph input), found {positions.Count}.");
        var position = positions[0];
        var fromInputs = Ancestors(g, g.Producer(position.Output)!.Input[1], throughShape: false).SelectMany(n => n.Input).Where(g.Inputs.Contains).ToList();
        if (fromInputs.Count > 0)
            throw Fail(source, $"position ids are computed from '{fromInputs[0]}' (RoBERTa-style offsets); Pretrain's encoder uses positions 0..T-1.");
        var d = g.Initializer(word.Table)!.Dims[1];

        if (linears.Count == 0 || linears.Count % 6 != 0)
            throw Fail(source, $"found {linears.Count} Linear layers (MatMul/Gemm on weights) before '{outputName}'; a BERT encoder has 6 per layer (query, key, value, attention output, intermediate, output). Is this a task model? Pass the hidden-state output's name.");
        var layers = linears.Count / 6;
        var postNorm = norms.Count == 2 * layers + 1;
        if (!postNorm && norms.Count != 2 * layers + 2)
            throw Fail(source, $"found {norms.Count} LayerNorms for {layers} layers; a post-LN BERT has {2 * layers + 1}, a pre-LN encoder {2 * layers + 2}.");
        inferred.Add($"layers {layers} ({linears.Count} Linear layers, {norms.Count} LayerNorms: {(postNorm ? "post" : "pre")}-LN)");
        inferred.Add($"hidden size {d}, vocab {Rows(g, word)}, max positions {Rows(g, position)}, type vocab {(type is null ? 0 : Rows(g, type))} (embedding tables)");

        var tensors = new Dictionary<string, (string, bool)>(StringComparer.Ordinal)
        {
            ["embeddings.word_embeddings.weight"] = (word.Table, false),
            ["embeddings.position_embeddings.weight"] = (position.Table, false),
        };
        if (type is not null)
            tensors["embeddings.token_type_embeddings.weight"] = (type.Table, false);
        AddNorm(tensors, "embeddings.LayerNorm", norms[0]);
        if (!postNorm)
            AddNorm(tensors, "encoder.ln", norms[^1]);

        long ffn = 0;
        (long? Heads, long? HeadDim, string From)? split = null;
        string? activation = null;
        for (var i = 0; i < layers; i++)
        {
            var block = linears.Skip(6 * i).Take(6).ToList();
            var roles = new Dictionary<char, OnnxLinear>();
            foreach (var l in block.Take(3))
            {
                var role = OnnxAttentionProbe.Role(g, l.Output)
                    ?? throw Fail(source, $"layer {i}: the output of {Describe(l)} does not reach an attention MatMul; the first three Linear layers of a layer must be query, key and value.");
                if (!roles.TryAdd(role.Role, l))
                    throw Fail(source, $"layer {i}: two projections look like the {role.Role} of attention ({Describe(roles[role.Role])}, {Describe(l)}).");
                if (i == 0 && role.Role == 'q')
                {
                    var fromShape = role.Reshapes.Select(r => OnnxAttentionProbe.SplitShape(g, r)).FirstOrDefault(s => s.Heads is not null || s.HeadDim is not null);
                    var scaled = OnnxAttentionProbe.HeadDimFromScale(g, role.MatMul);
                    split = fromShape.Heads is not null || fromShape.HeadDim is not null
                        ? (fromShape.Heads, fromShape.HeadDim, "the head-splitting Reshape")
                        : scaled is long hd ? (null, hd, "the 1/sqrt(head_dim) score scale") : null;
                }
            }
            var p = $"{Layer}{i}.";
            AddLinear(g, tensors, p + "attention.self.query", roles['q'], d, d, source);
            AddLinear(g, tensors, p + "attention.self.key", roles['k'], d, d, source);
            AddLinear(g, tensors, p + "attention.self.value", roles['v'], d, d, source);
            AddLinear(g, tensors, p + "attention.output.dense", block[3], d, d, source);
            var width = block[4].OutFeatures(g);
            if (i > 0 && width != ffn)
                throw Fail(source, $"layer {i} has an intermediate size of {width}, layer 0 of {ffn}; Pretrain's encoder needs one size for all layers.");
            ffn = width;
            AddLinear(g, tensors, p + "intermediate.dense", block[4], d, ffn, source);
            AddLinear(g, tensors, p + "output.dense", block[5], ffn, d, source);
            AddNorm(tensors, p + "attention.output.LayerNorm", norms[1 + 2 * i]);
            AddNorm(tensors, p + "output.LayerNorm", norms[2 + 2 * i]);
            var act = OnnxAttentionProbe.Activation(OnnxAttentionProbe.Between(g, block[4].Output, block[5].Input));
            if (activation is not null && act != activation)
                throw Fail(source, $"layer {i} uses activation {act}, layer 0 {activation}.");
            activation = act;
        }
        if (pooler.Count == 1)
            AddLinear(g, tensors, "pooler.dense", pooler[0], d, d, source);

        var heads = Heads(options, split, d, source, inferred);
        var eps = Epsilon(options, norms, source, inferred);
        inferred.Add($"intermediate size {ffn} (layer 0's intermediate Linear)");
        if (activation != "gelu")
        {
            if (options.Activation != "gelu")
                throw Fail(source, $"the MLP activation is {activation}; Pretrain's encoder computes the erf GELU. Pass --activation gelu to import it as that anyway (outputs will differ slightly).");
            inferred.Add($"activation gelu (overridden; the graph has {activation})");
        }
        else
        {
            inferred.Add("activation gelu (erf)");
        }
        inferred.Add(pooler.Count == 1 ? "pooler: yes (dense + tanh on the first token)" : "pooler: none");
        CheckNames(g, tensors, source);

        var config = new EncoderLmConfig
        {
            VocabSize = Size(Rows(g, word), "the word embedding rows", source),
            MaxSeqLen = Size(Rows(g, position), "the position embedding rows", source),
            TypeVocabSize = type is null ? 0 : Size(Rows(g, type), "the token type embedding rows", source),
            EmbedDim = Size(d, "the hidden size", source),
            NumLayers = layers,
            NumHeads = heads,
            MlpHiddenDim = ffn == 4 * d ? null : Size(ffn, "the MLP width", source),
            NormEps = eps,
            PostNorm = postNorm,
            Pooler = pooler.Count == 1,
        };
        try
        {
            config.Validate();
        }
        catch (ArgumentException e)
        {
            throw Fail(source, $"the inferred configuration is not valid ({e.Message}); override it with --num-heads / --norm-eps.");
        }
        var used = tensors.Values.Select(t => t.Item1).ToHashSet(StringComparer.Ordinal);
        var unused = g.Initializers.Values.Where(t => OnnxGraphIndex.IsFloat(t) && t.Dims.Count > 0 && !used.Contains(t.Name))
            .Select(t => t.Name).Order(StringComparer.Ordinal).ToList();
        return new BertOnnxLayout(config, tensors, inferred, unused, outputName);
    }

    private static int Heads(BertImportOptions options, (long? Heads, long? HeadDim, string From)? split, long d, string source, List<string> inferred)
    {
        long? found = split is { } s ? s.Heads ?? (s.HeadDim is long hd && hd > 0 && d % hd == 0 ? d / hd : null) : null;
        if (options.NumHeads is int forced)
        {
            inferred.Add($"heads {forced} (--num-heads{(found is long f && f != forced ? $"; the graph suggests {f}" : "")})");
            return forced;
        }
        if (found is not long h)
            throw Fail(source, "cannot infer the number of attention heads (no head-splitting Reshape or score scale found); pass --num-heads.");
        inferred.Add($"heads {h} (from {split!.Value.From}, head_dim {d / h})");
        return Size(h, "the number of attention heads", source);
    }

    private static double Epsilon(BertImportOptions options, List<OnnxLayerNorm> norms, string source, List<string> inferred)
    {
        var values = norms.Select(n => n.Epsilon).Distinct().ToList();
        if (options.NormEps is double forced)
        {
            inferred.Add($"norm eps {forced:G} (--norm-eps; the graph has {string.Join(", ", values.Select(v => v.ToString("G")))})");
            return forced;
        }
        if (values.Count != 1)
            throw Fail(source, $"the LayerNorms use different epsilons ({string.Join(", ", values.Select(v => v.ToString("G")))}); pass --norm-eps.");
        inferred.Add($"norm eps {values[0]:G} (LayerNorm epsilon in the graph)");
        return values[0];
    }

    private static void AddLinear(OnnxGraphIndex g, Dictionary<string, (string, bool)> tensors, string name, OnnxLinear l, long inDim, long outDim, string source)
    {
        if (l.InFeatures(g) != inDim || l.OutFeatures(g) != outDim)
            throw Fail(source, $"{name}: {Describe(l)} maps {l.InFeatures(g)} → {l.OutFeatures(g)} features; the hidden size and intermediate size found elsewhere need {inDim} → {outDim}.");
        if (l.Bias is null)
            throw Fail(source, $"{name}: {Describe(l)} has no bias; Pretrain's BERT encoder has biases on every Linear layer.");
        tensors[name + ".weight"] = (l.Weight, l.InOut);
        tensors[name + ".bias"] = (l.Bias, false);
    }

    private static void AddNorm(Dictionary<string, (string, bool)> tensors, string name, OnnxLayerNorm n)
    {
        tensors[name + ".weight"] = (n.Scale, false);
        tensors[name + ".bias"] = (n.Bias, false);
    }

    /// <summary>Initializers that carry a Hugging Face BERT name must sit where the structure puts them.</summary>
    private static void CheckNames(OnnxGraphIndex g, Dictionary<string, (string Initializer, bool)> tensors, string source)
    {
        var problems = new List<string>();
        foreach (var (hf, (init, _)) in tensors)
        {
            var own = init.StartsWith("bert.", StringComparison.Ordinal) ? init[5..] : init;
            if (own != hf && HfName().IsMatch(own))
                problems.Add($"'{init}' is used as {hf}");
        }
        if (problems.Count > 0)
            throw Fail(source, $"the graph's structure disagrees with its own tensor names: {string.Join("; ", problems.Take(8))}. This is not a BERT layout the importer understands.");
    }

    private static long Rows(OnnxGraphIndex g, OnnxEmbedding e) => g.Initializer(e.Table)!.Dims[0];

    private static string Describe(OnnxLinear l) => $"{l.Node.OpType} '{l.Node.Name}' (weight '{l.Weight}')";

    /// <summary>Nodes the value depends on; without <paramref name="throughShape"/>, Shape nodes cut the walk (sizes are not data).</summary>
    private static HashSet<NodeProto> Ancestors(OnnxGraphIndex g, string value, bool throughShape)
    {
        var result = new HashSet<NodeProto>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<string>([value]);
        while (stack.Count > 0)
        {
            if (g.Producer(stack.Pop()) is not { } node || (!throughShape && node.OpType == "Shape") || !result.Add(node))
                continue;
            foreach (var input in node.Input)
                stack.Push(input);
        }
        return result;
    }

    /// <summary>A Hugging Face BERT tensor name (prefix removed).</summary>
    [System.Text.RegularExpressions.GeneratedRegex(@"^(embeddings\.(word_embeddings|position_embeddings|token_type_embeddings|LayerNorm)|encoder\.layer\.\d+\.(attention|intermediate|output)\..+|encoder\.ln|pooler\.dense)\.(weight|bias)$")]
    private static partial System.Text.RegularExpressions.Regex HfName();

    // One line: tensor and node names come from the file and may hold line breaks (found by tools/fuzz).
    private static OnnxImportException Fail(string source, string message) => new($"{source}: {message.ReplaceLineEndings(" ")}");

    /// <summary>A dimension read from initializer shapes as an int; a damaged model can declare any long.</summary>
    private static int Size(long value, string what, string source) =>
        value is > 0 and <= int.MaxValue
            ? (int)value
            : throw new OnnxImportException($"{source}: {what} ({value}) is not a usable size; the model is damaged.");
}
