using System.Runtime.InteropServices;
using TorchSharp;

namespace Pretrain.Training.Precision;

/// <summary>
/// libtorch's own autocast (at::autocast, aten/src/ATen/autocast_mode.h), reached through the C++ symbols libtorch_cpu
/// exports; TorchSharp 0.107 does not wrap it. The state is thread-local dispatcher state: it casts the ops on
/// PyTorch's lists (lower precision: linear, matmul, conv, scaled_dot_product_attention …; fp32: losses, norms of
/// the CUDA list …) for the thread that set it. c10::DeviceType and c10::ScalarType are <c>enum class : int8_t</c>
/// (c10/core/DeviceType.h, ScalarType.h), passed by value: CPU 0, CUDA 1; Half 5, Float 6, BFloat16 15 — the
/// same values as TorchSharp's enums.
/// </summary>
internal static class LibTorchAutocast
{
    private const string Lib = "libtorch_cpu";

    [DllImport(Lib, EntryPoint = "_ZN2at8autocast20set_autocast_enabledEN3c1010DeviceTypeEb")]
    private static extern void SetEnabled(sbyte device, [MarshalAs(UnmanagedType.U1)] bool enabled);

    [DllImport(Lib, EntryPoint = "_ZN2at8autocast19is_autocast_enabledEN3c1010DeviceTypeE")]
    [return: MarshalAs(UnmanagedType.U1)]
    private static extern bool IsEnabled(sbyte device);

    [DllImport(Lib, EntryPoint = "_ZN2at8autocast18set_autocast_dtypeEN3c1010DeviceTypeENS1_10ScalarTypeE")]
    private static extern void SetDtype(sbyte device, sbyte dtype);

    [DllImport(Lib, EntryPoint = "_ZN2at8autocast18get_autocast_dtypeEN3c1010DeviceTypeE")]
    private static extern sbyte GetDtype(sbyte device);

    [DllImport(Lib, EntryPoint = "_ZN2at8autocast17increment_nestingEv")]
    private static extern int IncrementNesting();

    [DllImport(Lib, EntryPoint = "_ZN2at8autocast17decrement_nestingEv")]
    private static extern int DecrementNesting();

    [DllImport(Lib, EntryPoint = "_ZN2at8autocast11clear_cacheEv")]
    private static extern void ClearCache();

    static LibTorchAutocast() => torch.InitializeDeviceType(DeviceType.CPU);   // TorchSharp loads libtorch first

    private static sbyte Code(DeviceType device) => device switch
    {
        DeviceType.CPU => 0,
        DeviceType.CUDA => 1,
        _ => throw new NotSupportedException($"Autocast on {device} is not supported; use train.precision: fp32."),
    };

    /// <summary>Whether autocast is on for <paramref name="device"/> in this thread.</summary>
    public static bool Enabled(DeviceType device) => IsEnabled(Code(device));

    /// <summary>The dtype autocast casts to on <paramref name="device"/> in this thread.</summary>
    public static torch.ScalarType Dtype(DeviceType device) => (torch.ScalarType)GetDtype(Code(device));

    /// <summary>
    /// torch.autocast.__enter__: remembers the thread's state, sets dtype and enabled, increments the nesting;
    /// disposing restores it and, at the outermost exit, clears the weight-cast cache.
    /// </summary>
    public static IDisposable Enter(DeviceType device, torch.ScalarType dtype) => new Scope(Code(device), (sbyte)dtype);

    private sealed class Scope : IDisposable
    {
        private readonly sbyte _device;
        private readonly bool _prevEnabled;
        private readonly sbyte _prevDtype;
        private readonly int _thread = Environment.CurrentManagedThreadId;
        private bool _done;

        public Scope(sbyte device, sbyte dtype)
        {
            _device = device;
            _prevEnabled = IsEnabled(device);
            _prevDtype = GetDtype(device);
            SetDtype(device, dtype);
            SetEnabled(device, true);
            _ = IncrementNesting();
        }

        public void Dispose()
        {
            if (_done) return;
            if (Environment.CurrentManagedThreadId != _thread)
                throw new InvalidOperationException("An autocast scope must end in the thread that began it (autocast state is thread-local).");
            _done = true;
            if (DecrementNesting() == 0) ClearCache();
            SetEnabled(_device, _prevEnabled);
            SetDtype(_device, _prevDtype);
        }
    }
}
