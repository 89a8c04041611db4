using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.autograd;

namespace Pretrain.Models.Modules;

/// <summary>
/// Activation checkpointing (Chen et al. 2016, "Training deep nets with sublinear memory cost"): a block's forward
/// runs without recording a graph and keeps only its input; backward runs the block again with grad enabled and
/// backpropagates the incoming gradient through the recomputation. One custom autograd node per block
/// (TorchSharp's <see cref="SingleTensorFunction{T}"/>), whose inputs are the block input and the block's trainable
/// parameters, so parameter gradients reach the engine's accumulators even when the input needs none (a frozen
/// embedding under LoRA). Dropout draws the same masks in both passes: the CPU generator's state is saved before the
/// forward and restored around the recomputation, then set back so the rest of the step's randomness is unchanged.
/// On CUDA (whose generator state TorchSharp cannot read) a training forward reseeds the CUDA generator with a value
/// drawn from the CPU generator, and the recomputation reseeds it with the same value (docs/activation-checkpointing.md).
/// </summary>
public static class ActivationCheckpoint
{
    private static long _recomputations;

    /// <summary>Block recomputations this process has run in backward (diagnostics: tests and benchmarks read it).</summary>
    public static long Recomputations => Interlocked.Read(ref _recomputations);

    /// <summary>
    /// <paramref name="block"/>(<paramref name="x"/>, <paramref name="extras"/>) with its activations recomputed in
    /// backward. The extra inputs (attention masks, positions; null allowed) take no gradient; the node keeps its own
    /// references to them and to <paramref name="x"/>, so backward works even after their wrappers are disposed.
    /// Without grad mode, or when nothing needs a gradient, the block simply runs.
    /// </summary>
    /// <param name="block">The block's forward; called once here and once more in backward.</param>
    /// <param name="x">Block input (B, T, C).</param>
    /// <param name="extras">Further tensor inputs of the block, passed back to it in the same order.</param>
    /// <param name="parameters">The block's parameters; those that require grad become inputs of the node.</param>
    /// <param name="training">Whether the block is in training mode (dropout active), so its randomness is replayed.</param>
    public static Tensor Run(Func<Tensor, Tensor?[], Tensor> block, Tensor x, Tensor?[] extras, IEnumerable<Tensor> parameters, bool training)
    {
        if (!torch.is_grad_enabled())
            return block(x, extras);
        var trainable = parameters.Where(p => p.requires_grad).ToArray();
        if (!x.requires_grad && trainable.Length == 0)
            return block(x, extras);
        var call = new Call(block, extras.Length, trainable, x.requires_grad, training);
        // Node inputs: x, the call (not a tensor: no edge), the extras (no gradient), the trainable parameters.
        var vars = new object?[2 + extras.Length + trainable.Length];
        vars[0] = x;
        vars[1] = call;
        extras.CopyTo(vars, 2);
        trainable.CopyTo(vars, 2 + extras.Length);
        return CheckpointFunction.apply(vars!);
    }

    /// <summary>What one checkpointed call needs again in backward (a non-tensor input of the node).</summary>
    private sealed class Call(Func<Tensor, Tensor?[], Tensor> block, int extras, Tensor[] parameters, bool inputNeedsGrad, bool training)
    {
        public Func<Tensor, Tensor?[], Tensor> Block { get; } = block;
        public int Extras { get; } = extras;
        public Tensor[] Parameters { get; } = parameters;
        public bool InputNeedsGrad { get; } = inputNeedsGrad;
        private byte[]? _cpuRng;
        private long? _cudaSeed;

        /// <summary>Before the forward: remembers (CPU) or fixes (CUDA) the generator state dropout will draw from.</summary>
        public void Capture(Device device)
        {
            if (!training)
                return;
            _cpuRng = CpuRng();
            if (device.type == DeviceType.CUDA)
            {
                // The CUDA generator's state is not reachable from TorchSharp: seed it from the CPU generator (whose
                // state is checkpointed), so the masks are a function of the run's seed and step, and replayable.
                using var draw = torch.randint(long.MaxValue, [1], dtype: ScalarType.Int64);
                _cudaSeed = draw.item<long>();
                torch.cuda.manual_seed_all(_cudaSeed.Value);
            }
        }

        /// <summary>Puts the captured state back for the recomputation; returns the state to restore afterwards.</summary>
        public byte[]? Replay()
        {
            if (_cpuRng is null)
                return null;
            var outer = CpuRng();
            SetCpuRng(_cpuRng);
            if (_cudaSeed is long seed)
                torch.cuda.manual_seed_all(seed);
            return outer;
        }

        public static byte[] CpuRng()
        {
            using var state = torch.get_rng_state();
            return state.bytes.ToArray();
        }

        public static void SetCpuRng(byte[] bytes)
        {
            using var state = torch.tensor(bytes, ScalarType.Byte);
            torch.set_rng_state(state);
        }
    }

    /// <summary>The autograd node: inputs (x, call, extras…, trainable parameters…), output the block's output.</summary>
    private sealed class CheckpointFunction : SingleTensorFunction<CheckpointFunction>
    {
        private const string CallKey = "call";

        // The engine copies the gradients a backward returns only after it has returned, so their wrappers cannot be
        // disposed inside it; each thread disposes the previous call's wrappers when it next enters backward (CUDA
        // runs backward on the engine's device threads, outside the trainer's dispose scope).
        [ThreadStatic] private static List<Tensor>? _returned;

        public override string Name => nameof(ActivationCheckpoint);

        public override Tensor forward(AutogradContext ctx, params object[] vars)
        {
            var x = (Tensor)vars[0];
            var call = (Call)vars[1];
            var saved = new List<Tensor>(1 + call.Extras) { x };
            for (int i = 0; i < call.Extras; i++)
                saved.Add((Tensor)vars[2 + i]);   // null stays null
            call.Capture(x.device);
            Tensor y;
            // Grad mode is off here (the Function runs forward without a graph); the scope frees the block's
            // intermediates now instead of at the end of the step.
            using (var scope = torch.NewDisposeScope())
                y = scope.MoveToOuter(call.Block(x, saved.Skip(1).ToArray()));
            ctx.save_for_backward(saved);
            ctx.save_data(CallKey, call);
            return y;
        }

        public override List<Tensor> backward(AutogradContext ctx, Tensor grad_output)
        {
            DisposeReturned();
            Interlocked.Increment(ref _recomputations);
            var call = (Call)ctx.get_data(CallKey);
            var saved = ctx.get_saved_variables();
            var outerRng = call.Replay();
            var result = new List<Tensor>(2 + call.Extras + call.Parameters.Length);
            try
            {
                using var grad = torch.enable_grad();
                using var scope = torch.NewDisposeScope();
                var input = saved[0].detach().requires_grad_(call.InputNeedsGrad);
                var y = call.Block(input, saved.Skip(1).ToArray());
                var wrt = new List<Tensor>(call.Parameters.Length + 1);
                if (call.InputNeedsGrad)
                    wrt.Add(input);
                wrt.AddRange(call.Parameters);
                var grads = torch.autograd.grad([y], wrt, [grad_output], allow_unused: true);
                var defined = grads.Where(g => !g.IsInvalid).ToArray();
                scope.MoveToOuter(defined);
                int i = 0;
                result.Add(call.InputNeedsGrad ? Defined(grads[i++]) : null!);
                for (int e = 0; e <= call.Extras; e++)
                    result.Add(null!);  // the call and the extras take no gradient
                for (; i < grads.Count; i++)
                    result.Add(Defined(grads[i]));
            }
            finally
            {
                if (outerRng is not null)
                    Call.SetCpuRng(outerRng);
                foreach (var t in saved)
                    t?.Dispose();
                grad_output.Dispose();
            }
            (_returned ??= []).AddRange(result.Where(t => t is not null));
            return result;
        }

        private static Tensor Defined(Tensor g) => g.IsInvalid ? null! : g;

        private static void DisposeReturned()
        {
            if (_returned is null)
                return;
            foreach (var t in _returned)
                t.Dispose();
            _returned.Clear();
        }
    }
}
