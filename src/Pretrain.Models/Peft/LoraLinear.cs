using Pretrain.Models.Quantization;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Pretrain.Models.Peft;

/// <summary>
/// A linear layer with a low-rank update (Hu et al. 2021, §4.1): y = x·Wᵀ + b + s·(drop(x)·Aᵀ)·Bᵀ with s = α/r (or
/// α/√r, rsLoRA). State-dict keys: <c>weight</c> [out, in] and <c>bias</c> [out] exactly as <c>nn.Linear</c>'s, so a
/// base checkpoint loads unchanged, plus <c>lora_a</c> [r, in] (Kaiming-uniform, a = √5) and <c>lora_b</c> [out, r]
/// (zeros), so a fresh adapter leaves the output unchanged. <see cref="Merge"/> folds s·B·A into W for inference or
/// export; <see cref="Unmerge"/> takes it out again. <see cref="QuantizeBase"/> (QLoRA) replaces W by an int8 or NF4
/// copy dequantized in each forward; the adapters stay float32.
/// With DoRA (<see cref="LoraConfig.UseDora"/>, Liu et al. 2024) the layer also holds <c>lora_magnitude</c> [out]
/// and computes y = (m / ‖W + s·B·A‖) ⊙ (x·Wᵀ + s·x·Aᵀ·Bᵀ) + b, the row norm ‖·‖ (per output feature, over the
/// inputs) detached from the graph (§4.3). m starts as that norm, taken from the weights present at the first forward
/// or merge (as PEFT does), so the base loaded after construction sets it and a fresh adapter changes nothing.
/// </summary>
public sealed class LoraLinear : Module<Tensor, Tensor>
{
    private Parameter weight;           // (out, in) the frozen base weight; its dtype may be lower (HoldBaseIn)
    private readonly Parameter? bias;   // (out,)
    private readonly Parameter lora_a;  // (r, in)
    private readonly Parameter lora_b;  // (out, r)
    private readonly Parameter? lora_magnitude; // (out,) DoRA's m; null without DoRA

    private bool _magnitudePending;      // m not yet taken from W (set at the first forward or merge) nor loaded
    private Tensor? _mergedNorm;         // (out,) ‖W + s·B·A‖ at a DoRA merge, for Unmerge

    private readonly double _dropout;
    private QuantizedWeight? _quantized; // the frozen base, when quantized (weight then holds no elements)

    /// <param name="inFeatures">Input width.</param>
    /// <param name="outFeatures">Output width.</param>
    /// <param name="hasBias">Whether the base layer has a bias.</param>
    /// <param name="config">Rank, α, dropout and scaling of the adapter.</param>
    public LoraLinear(long inFeatures, long outFeatures, bool hasBias, LoraConfig config) : base(nameof(LoraLinear))
    {
        config.Validate();
        if (inFeatures <= 0 || outFeatures <= 0)
            throw new ArgumentException($"A LoRA linear layer needs positive sizes; got in {inFeatures}, out {outFeatures}.");
        Rank = config.Rank;
        Scale = config.Scale;
        _dropout = config.Dropout;
        using (torch.no_grad())
        {
            // The base layer starts as nn.Linear does (its weights normally come from a checkpoint): W Kaiming-uniform
            // with a = √5, b uniform(±1/√in). A the same as PEFT and the paper's code; B zeros.
            weight = new Parameter(torch.empty(outFeatures, inFeatures));
            init.kaiming_uniform_(weight, Math.Sqrt(5));
            if (hasBias)
            {
                var bound = 1.0 / Math.Sqrt(inFeatures);
                bias = new Parameter(torch.empty(outFeatures));
                init.uniform_(bias, -bound, bound);
            }
            lora_a = new Parameter(torch.empty(config.Rank, inFeatures));
            init.kaiming_uniform_(lora_a, Math.Sqrt(5));
            lora_b = new Parameter(torch.zeros(outFeatures, config.Rank));
            if (config.UseDora)
            {
                lora_magnitude = new Parameter(torch.ones(outFeatures));
                _magnitudePending = true;
            }
        }
        RegisterComponents();
    }

    /// <summary>Rank r.</summary>
    public int Rank { get; }

    /// <summary>The factor s applied to B·A.</summary>
    public double Scale { get; }

    /// <summary>True while s·B·A is folded into <c>weight</c>; the forward pass then skips the LoRA path.</summary>
    public bool Merged { get; private set; }

    /// <summary>The base weight W (out, in); it includes s·B·A while <see cref="Merged"/>.</summary>
    public Parameter Weight => weight;

    /// <summary>The base bias (out,), or null.</summary>
    public Parameter? Bias => bias;

    /// <summary>A (r, in).</summary>
    public Parameter LoraA => lora_a;

    /// <summary>B (out, r).</summary>
    public Parameter LoraB => lora_b;

    /// <summary>DoRA's magnitude m (out,), or null when the layer is plain LoRA.</summary>
    public Parameter? Magnitude => lora_magnitude;

    /// <summary>
    /// Whether a parameter name (any prefix) is an adapter parameter: it ends in <c>lora_a</c>, <c>lora_b</c> or
    /// <c>lora_magnitude</c> (DoRA).
    /// </summary>
    public static bool IsAdapterParameter(string name) =>
        name is nameof(lora_a) or nameof(lora_b) or nameof(lora_magnitude)
        || name.EndsWith("." + nameof(lora_a), StringComparison.Ordinal)
        || name.EndsWith("." + nameof(lora_b), StringComparison.Ordinal)
        || name.EndsWith("." + nameof(lora_magnitude), StringComparison.Ordinal);

    /// <summary>The quantized base weight, or null when W is held in full.</summary>
    public QuantizedWeight? QuantizedBase => _quantized;

    /// <summary>
    /// Replaces the frozen W by its <paramref name="kind"/> ("int8" or "nf4") quantization on W's device and frees
    /// W's storage; the forward pass dequantizes it. Call after the base weights are loaded and the module is on its
    /// device (the quantized tensors do not follow a later <c>to()</c>). <see cref="Merge"/> dequantizes W back first.
    /// </summary>
    public void QuantizeBase(string kind)
    {
        if (Merged)
            throw new InvalidOperationException("Quantize the base before merging the adapter, not after.");
        if (_quantized is not null)
            return;
        _quantized = QuantizedWeight.Create(weight, kind);
        using var _ = torch.no_grad();
        weight.requires_grad = false;
        using var empty = torch.empty(0, weight.dtype, weight.device);
        weight.set_(empty); // W's elements are freed; the parameter stays (name and dtype) for the state dict
    }

    public override Tensor forward(Tensor x) // (..., in) -> (..., out)
    {
        if (lora_magnitude is not null && !Merged)
            return DoraForward(x);
        var y = _quantized is null ? functional.linear(x, weight, bias) : functional.linear(x, _quantized.Dequantize().to_type(x.dtype), bias); // (..., out)
        if (Merged)
            return y;
        var h = functional.dropout(x, _dropout, training);
        var update = functional.linear(functional.linear(h, lora_a), lora_b); // (..., r) -> (..., out)
        return y + update * Scale;
    }

    // DoRA (Liu et al. 2024, eq. 5): W' = m ⊙ V / ‖V‖ with V = W + s·B·A, ‖V‖ per output row and constant in backward.
    // Without dropout: y = (m/‖V‖) ⊙ (x·Wᵀ + s·x·Aᵀ·Bᵀ) + b. With dropout (training) the adapter terms see drop(x),
    // as PEFT computes it: y = x·Wᵀ + b + (m/‖V‖ − 1) ⊙ drop(x)·Wᵀ + (m/‖V‖) ⊙ s·drop(x)·Aᵀ·Bᵀ.
    private Tensor DoraForward(Tensor x)
    {
        EnsureMagnitude();
        using var w = _quantized is null ? weight.alias() : _quantized.Dequantize().to_type(x.dtype); // (out, in)
        using var norm = DirectionNorm();                                                              // (out,)
        var scale = lora_magnitude! / norm;                                                            // (out,) grads reach m only
        var dropped = training && _dropout > 0;
        var h = dropped ? functional.dropout(x, _dropout, true) : x;
        var update = functional.linear(functional.linear(h, lora_a), lora_b) * Scale;                  // (..., out)
        var y = dropped
            ? functional.linear(x, w, bias) + functional.linear(h, w) * (scale - 1) + update * scale
            : (functional.linear(x, w) + update) * scale;
        return bias is null || dropped ? y : y + bias;
    }

    /// <summary>‖W + s·B·A‖ per output row (out,), float32, without grad; W dequantized when the base is quantized.</summary>
    public Tensor DirectionNorm()
    {
        using var _ = torch.no_grad();
        using var w = _quantized is null ? weight.to_type(ScalarType.Float32) : _quantized.Dequantize();
        using var ba = torch.mm(lora_b, lora_a).to_type(ScalarType.Float32); // (out, r)·(r, in)
        using var v = w + ba * Scale;
        using var squares = v.square();
        using var sum = squares.sum(1);
        return sum.sqrt();
    }

    /// <summary>DoRA: sets m to the current ‖W + s·B·A‖ (what a fresh adapter starts from). Does nothing without DoRA.</summary>
    public void ResetMagnitude()
    {
        if (lora_magnitude is null)
            return;
        using var norm = DirectionNorm();
        using (torch.no_grad())
            lora_magnitude.copy_(norm);
        _magnitudePending = false;
    }

    /// <summary>DoRA: m was loaded (an adapter file); the first forward keeps it instead of taking W's norms.</summary>
    internal void MagnitudeLoaded() => _magnitudePending = false;

    internal void EnsureMagnitude()
    {
        if (_magnitudePending)
            ResetMagnitude();
    }

    /// <summary>The update s·B·A (out, in), detached, in the weight's dtype.</summary>
    public Tensor Delta()
    {
        using var _ = torch.no_grad();
        using var ba = torch.mm(lora_b, lora_a); // (out, r)·(r, in)
        return (ba * Scale).to_type(weight.dtype);
    }

    /// <summary>Folds s·B·A into W. A second call does nothing (the update is never added twice).</summary>
    public void Merge()
    {
        if (Merged)
            return;
        if (_quantized is not null)
        {
            // QLoRA merges into the dequantized base (the weights the adapter was trained against).
            using var full = _quantized.Dequantize();
            using (torch.no_grad())
                weight.set_(full.to_type(weight.dtype).contiguous());
            _quantized.Dispose();
            _quantized = null;
        }
        EnsureMagnitude();
        // DoRA: the norm of W + s·B·A before it is folded in (kept for Unmerge).
        var norm = lora_magnitude is null ? null : DirectionNorm().DetachFromDisposeScope();
        using var delta = Delta();
        using (torch.no_grad())
        {
            weight.add_(delta);
            if (norm is not null)
            {
                using var rowScale = (lora_magnitude! / norm).unsqueeze(1).to_type(weight.dtype); // (out, 1)
                weight.mul_(rowScale);
            }
        }
        _mergedNorm = norm;
        Merged = true;
    }

    /// <summary>Takes s·B·A out of W again (W − s·B·A: exact up to float rounding). Does nothing when not merged.</summary>
    public void Unmerge()
    {
        if (!Merged)
            return;
        using var delta = Delta();
        using (torch.no_grad())
        {
            if (_mergedNorm is not null)
            {
                using var rowScale = (_mergedNorm / lora_magnitude!).unsqueeze(1).to_type(weight.dtype); // (out, 1)
                weight.mul_(rowScale);
            }
            weight.sub_(delta);
        }
        DropMergedNorm();
        Merged = false;
    }

    private void DropMergedNorm()
    {
        _mergedNorm?.Dispose();
        _mergedNorm = null;
    }

    /// <summary>
    /// Holds the frozen base weight in <paramref name="dtype"/>, e.g. bf16 to halve its memory; the bias and the
    /// adapters keep theirs (fp32: libtorch's CPU autocast leaves a linear's optional bias uncast, so an fp32 bias
    /// beside a bf16 weight computes exactly what autocast computes from an fp32 base). Replaces the Parameter object
    /// (libtorch cannot change a tensor's dtype in place), so call it before an optimizer or anything else holds it.
    /// Refused while the base trains or is merged.
    /// </summary>
    public void HoldBaseIn(ScalarType dtype)
    {
        if (weight.requires_grad)
            throw new InvalidOperationException("The LoRA base weight trains (requires_grad); freeze the base before changing its dtype.");
        if (Merged)
            throw new InvalidOperationException("Unmerge the LoRA adapter before changing the base weight's dtype.");
        if (weight.dtype == dtype) return;
        Parameter p;
        using (torch.no_grad())
        using (var data = weight.detach())
            p = new Parameter(data.to_type(dtype), requires_grad: false);
        SwapWeight(p).Dispose();
    }

    /// <summary>
    /// Swaps in <paramref name="replacement"/> as the base weight and returns the one it replaces: how a merged export
    /// of a bf16 base folds the adapter in fp32 without touching the held weight.
    /// </summary>
    internal Parameter SwapWeight(Parameter replacement)
    {
        var old = weight;
        weight = replacement;
        ConditionallyRegisterParameter(nameof(weight), replacement);
        return old;
    }

    /// <summary>Puts back a copy of W taken before <see cref="Merge"/>: bit-exact, unlike <see cref="Unmerge"/>.</summary>
    internal void RestoreUnmerged(Tensor original)
    {
        using (torch.no_grad())
            weight.copy_(original);
        DropMergedNorm();
        Merged = false;
    }
}
