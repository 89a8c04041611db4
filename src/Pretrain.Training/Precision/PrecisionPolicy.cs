using Pretrain.Models.Peft;
using TorchSharp;
using static TorchSharp.torch;

namespace Pretrain.Training.Precision;

/// <summary>
/// The one place train.precision is decided: which dtype the forward computes in, which dtype the trainable weights
/// and optimizer state are held in, and whether the loss is scaled. The trainer wraps each micro-batch's forward and
/// loss in <see cref="Autocast"/> (in its own thread; backward runs outside, as in PyTorch); tasks and models hold
/// no casts of their own.
/// <list type="bullet">
/// <item>fp32: no autocast.</item>
/// <item>bf16-mixed / fp16-mixed: fp32 master weights and AdamW state; libtorch autocast computes the ops on
/// PyTorch's lower-precision list (linear, matmul, conv, scaled_dot_product_attention) in bf16/fp16 and the ops on
/// its fp32 list (losses, and on CUDA norms and softmax) in fp32. fp16-mixed adds a <see cref="DynamicLossScaler"/>.</item>
/// <item>bf16 (pure): trainable weights and AdamW state in bf16 (lossy: updates below bf16's 8-bit mantissa are
/// lost), autocast on so fp32 inputs (pixels) meet bf16 weights; checkpoints hold the weights upcast to fp32.</item>
/// </list>
/// </summary>
public sealed class PrecisionPolicy
{
    /// <summary>The values train.precision accepts.</summary>
    public static string[] Modes => Recipes.RecipeValidator.Precisions;

    /// <summary>The resolved mode (never auto).</summary>
    public string Mode { get; }

    /// <summary>The device the forward runs on (autocast state is per device type).</summary>
    public DeviceType Device { get; }

    /// <summary>The dtype autocast computes in; null under fp32 (no autocast).</summary>
    public ScalarType? ComputeDtype { get; }

    /// <summary>The dtype trainable weights (and so AdamW's moments) are held in: fp32 except under pure bf16.</summary>
    public ScalarType ParameterDtype => Mode == "bf16" ? ScalarType.BFloat16 : ScalarType.Float32;

    /// <summary>Whether the loss is scaled before backward (fp16-mixed).</summary>
    public bool ScalesLoss => Mode == "fp16-mixed";

    /// <summary>The loss scaler's growth interval (PyTorch's 2000; tests use a tiny one).</summary>
    public int ScalerGrowthInterval { get; init; } = 2000;

    public PrecisionPolicy(string mode, DeviceType device)
    {
        if (mode == "auto") throw new ArgumentException("Resolve train.precision auto with PrecisionPolicy.Resolve first.", nameof(mode));
        Mode = mode;
        Device = device;
        ComputeDtype = mode switch
        {
            "fp32" => null,
            "bf16-mixed" or "bf16" => ScalarType.BFloat16,
            "fp16-mixed" => ScalarType.Float16,
            _ => throw new ArgumentException($"train.precision must be one of {string.Join(", ", Modes)}; got '{mode}'.", nameof(mode)),
        };
    }

    /// <summary>fp32 everywhere: what a policy-less trainer does.</summary>
    public static PrecisionPolicy Fp32(DeviceType device = DeviceType.CPU) => new("fp32", device);

    /// <summary>
    /// train.precision with auto resolved: on CUDA bf16-mixed; on CPU bf16-mixed only when a measured bf16 matmul
    /// beats fp32 by 10 % (<see cref="MatmulProbe"/>), fp32 otherwise — on a CPU without native bf16 it is slower.
    /// </summary>
    public static PrecisionPolicy Resolve(string mode, DeviceType device)
    {
        if (mode != "auto") return new PrecisionPolicy(mode, device);
        if (device == DeviceType.CUDA) return new PrecisionPolicy("bf16-mixed", device);
        double ratio = MatmulProbe.Cpu(ScalarType.BFloat16) / MatmulProbe.Cpu(ScalarType.Float32);
        return new PrecisionPolicy(ratio >= 1.1 ? "bf16-mixed" : "fp32", device);
    }

    /// <summary>
    /// <c>using var _ = policy.Autocast();</c> around a forward and its loss: libtorch autocast on for this thread
    /// until disposed (its weight-cast cache cleared at the end). A no-op under fp32.
    /// </summary>
    public IDisposable Autocast() => ComputeDtype is { } dtype ? LibTorchAutocast.Enter(Device, dtype) : NoScope.Instance;

    /// <summary>
    /// Brings a freshly built model to its training dtypes, before the optimizer is built (TorchSharp's
    /// <c>Module.to</c> and <see cref="LoraLinear.HoldBaseIn"/> make new Parameter objects; the optimizer's flat
    /// buffer adopts the ones the model holds when it is built, so nothing that holds the old ones survives).
    /// <list type="bullet">
    /// <item>pure bf16: every floating parameter and buffer becomes bf16, as PyTorch's <c>model.to(torch.bfloat16)</c>
    /// (the optimizer then keeps its moments in bf16 too: PyTorch's convention, state in the parameter's dtype).</item>
    /// <item><paramref name="loraBaseDtype"/> bf16 (<c>lora.base_dtype</c>): the frozen weights of linear and
    /// convolution layers (LoRA bases and frozen plain layers) become bf16, halving their memory; adapters,
    /// heads, norms, biases and embeddings stay fp32 (an embedding's output is the residual stream). Needs bf16 compute (bf16-mixed or bf16):
    /// autocast then meets bf16 weights with bf16 activations, and under fp32 a bf16 weight would meet fp32 inputs.</item>
    /// </list>
    /// </summary>
    /// <exception cref="Recipes.RecipeException">lora.base_dtype bf16 with a mode that does not compute in bf16.</exception>
    public void PrepareModel(nn.Module model, string loraBaseDtype = "fp32")
    {
        if (ParameterDtype != ScalarType.Float32) model.to(ParameterDtype);
        if (loraBaseDtype == "fp32" || Mode == "bf16") return;   // pure bf16 already holds the base in bf16
        if (loraBaseDtype != "bf16")
            throw new Recipes.RecipeException($"lora.base_dtype must be fp32 or bf16; got '{loraBaseDtype}'.");
        if (ComputeDtype != ScalarType.BFloat16)
            throw new Recipes.RecipeException($"lora.base_dtype bf16 needs train.precision bf16-mixed or bf16 (bf16 compute for the bf16 base); this run resolved to {Mode}.");
        HoldFrozenBaseIn(model, ScalarType.BFloat16);
    }

    /// <summary>
    /// The frozen weights of linear and convolution layers in <paramref name="dtype"/>. Biases stay fp32: libtorch's
    /// CPU autocast leaves a linear's optional bias uncast, so this computes exactly what autocast computes from an
    /// fp32 base (LoraBaseDtypeTests), and a bias is a small share of the bytes.
    /// </summary>
    internal static void HoldFrozenBaseIn(nn.Module model, ScalarType dtype)
    {
        foreach (var (_, module) in model.named_modules().ToList())
        {
            switch (module)
            {
                case LoraLinear lora when Frozen(lora.Weight):   // a base listed in lora.trainable trains in fp32
                    lora.HoldBaseIn(dtype);
                    break;
                case TorchSharp.Modules.Linear linear when Frozen(linear.weight):
                    linear.weight = Recast(linear.weight, dtype);   // the setter registers it and disposes the old one
                    break;
                case TorchSharp.Modules.Conv2d conv when Frozen(conv.weight):
                    conv.weight = Recast(conv.weight, dtype);
                    break;
            }
        }
    }

    private static bool Frozen(TorchSharp.Modules.Parameter p) => !p.requires_grad && p.dtype == ScalarType.Float32;

    private static TorchSharp.Modules.Parameter Recast(TorchSharp.Modules.Parameter p, ScalarType dtype)
    {
        using var _ = no_grad();
        using var data = p.detach();
        return new TorchSharp.Modules.Parameter(data.to_type(dtype), requires_grad: false);
    }

    /// <summary>A new scaler for fp16-mixed (restored from trainer_state.json on resume); null otherwise.</summary>
    public DynamicLossScaler? NewScaler(double? scale = null, int growthTracker = 0) => ScalesLoss
        ? new DynamicLossScaler(growthInterval: ScalerGrowthInterval) { Scale = scale ?? DynamicLossScaler.DefaultInitScale, GrowthTracker = growthTracker }
        : null;

    public override string ToString() => Mode;

    private sealed class NoScope : IDisposable
    {
        public static readonly NoScope Instance = new();
        public void Dispose() { }
    }
}
