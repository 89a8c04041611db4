using System.Runtime.InteropServices;

namespace Pretrain.Cli;

/// <summary>
/// The one place the `pretrain` process handles SIGINT, SIGTERM and SIGUSR1 (SLURM's warning signal), for every
/// command. In the training phase the first signal asks the trainer to finish its step and checkpoint (exit 0 after a
/// clean checkpoint). Outside it (recipe parsing, data preparation, export, import, eval…) the first signal ends the
/// phase: <see cref="Token"/> is cancelled for code that observes it, and a phase that does not (a long libtorch
/// call) gets <see cref="Grace"/> to end before the process exits with 128 + the signal's number (130, 143, 138),
/// after deleting the staging folders registered with <see cref="OwnTemp"/>. A second signal ends the process at once.
/// `pretrain launch` instead takes every signal through <see cref="Forwarding"/> and passes it on to its ranks.
/// </summary>
public sealed class SignalScope : IDisposable
{
    /// <summary>SIGUSR1's number on Linux x64; .NET's <see cref="PosixSignal"/> has no name for it, so the raw number is cast.</summary>
    public const int SigUsr1 = 10;

    /// <summary>The scope of this process (null when the CLI runs inside another process, e.g. in-process tests).</summary>
    public static SignalScope? Current { get; private set; }

    /// <summary>Cancelled on the first signal: the training loop and any cancellable phase watch it.</summary>
    public static CancellationToken Token => Current?._cancel.Token ?? CancellationToken.None;

    private readonly CancellationTokenSource _cancel = new();
    private readonly List<PosixSignalRegistration> _registrations = [];
    private readonly List<string> _ownTemp = [];
    private readonly TextWriter _stderr;
    private readonly Lock _gate = new();
    private int _signal;                  // the first signal's number; 0 before any
    private int _count;
    private bool _training;
    private Action<int, int>? _forward;   // set while `pretrain launch` waits for its ranks
    private int _forwarded;

    private SignalScope(TextWriter stderr, TimeSpan grace)
    {
        _stderr = stderr;
        Grace = grace;
    }

    /// <summary>How long a phase that ignores <see cref="Token"/> may run on after the first signal (PRETRAIN_STOP_GRACE_S, default 10).</summary>
    public TimeSpan Grace { get; }

    /// <summary>The exit code the first signal asks for (128 + its number), or null before any signal.</summary>
    public int? ExitCode => _signal == 0 ? null : 128 + _signal;

    /// <summary>Whether a signal arrived while the trainer was running (it then stops with a checkpoint and exit 0).</summary>
    public bool StoppedTraining { get; private set; }

    /// <summary>Registers the handlers for this process; disposing removes them.</summary>
    public static SignalScope Install(TextWriter stderr)
    {
        double grace = double.TryParse(Environment.GetEnvironmentVariable("PRETRAIN_STOP_GRACE_S"), System.Globalization.CultureInfo.InvariantCulture, out var g) && g >= 0 ? g : 10;
        var scope = new SignalScope(stderr, TimeSpan.FromSeconds(grace));
        foreach (var signal in new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM, (PosixSignal)SigUsr1 })
            scope._registrations.Add(PosixSignalRegistration.Create(signal, scope.OnSignal));
        Current = scope;
        return scope;
    }

    /// <summary>
    /// Marks the training phase: until the result is disposed, a first signal means "finish the step and checkpoint".
    /// Throws <see cref="OperationCanceledException"/> when a signal already arrived outside training.
    /// </summary>
    public static IDisposable Training()
    {
        if (Current is not { } scope) return NoOp.Instance;
        lock (scope._gate)
        {
            // Signalled before training began: the run ends here (exit 128 + n), not with a zero-step "run".
            if (scope._signal != 0) throw new OperationCanceledException(scope._cancel.Token);
            scope._training = true;
        }
        return new Leave(() => { lock (scope._gate) scope._training = false; });
    }

    /// <summary>
    /// While the result is not disposed, every signal (the first and any later one) goes to
    /// <paramref name="forward"/>(signal number, how many so far) instead of stopping this process: `pretrain launch`
    /// passes them on to its ranks and keeps waiting for them, so its exit code stays theirs.
    /// </summary>
    public static IDisposable Forwarding(Action<int, int> forward)
    {
        if (Current is not { } scope) return NoOp.Instance;
        lock (scope._gate) scope._forward = forward;
        return new Leave(() => { lock (scope._gate) scope._forward = null; });
    }

    /// <summary>
    /// A staging folder or file this process created for output not yet in place: deleted if a signal ends the process
    /// before the command moves its contents (the disposable unregisters it once the command has dealt with it).
    /// </summary>
    public static IDisposable OwnTemp(string path)
    {
        if (Current is not { } scope) return NoOp.Instance;
        lock (scope._gate) scope._ownTemp.Add(path);
        return new Leave(() => { lock (scope._gate) scope._ownTemp.Remove(path); });
    }

    /// <summary>
    /// Test hook: with PRETRAIN_TEST_HOLD=<paramref name="point"/> the process prints "hold POINT" to stderr and
    /// waits there until a signal cancels <see cref="Token"/> (then throws as a cancellable phase would); with
    /// PRETRAIN_TEST_HOLD=POINT:stuck it waits without looking at the token, like a long native call. Lets tests
    /// land a real signal inside a given phase; without the variable it does nothing.
    /// </summary>
    public static void Hold(string point)
    {
        string? hold = Environment.GetEnvironmentVariable("PRETRAIN_TEST_HOLD");
        if (hold is null || (hold != point && hold != point + ":stuck")) return;
        Console.Error.WriteLine($"hold {point}");
        Console.Error.Flush();
        if (hold.EndsWith(":stuck", StringComparison.Ordinal))
            Thread.Sleep(Timeout.Infinite);
        Token.WaitHandle.WaitOne();
        Token.ThrowIfCancellationRequested();
    }

    private void OnSignal(PosixSignalContext context)
    {
        context.Cancel = true;   // the process decides when to end, below
        int number = context.Signal switch
        {
            PosixSignal.SIGINT => 2,
            PosixSignal.SIGTERM => 15,
            _ => (int)context.Signal,
        };
        string name = number switch { 2 => "SIGINT", 15 => "SIGTERM", SigUsr1 => "SIGUSR1", _ => $"signal {number}" };
        bool training, first;
        Action<int, int>? forward;
        int count;
        lock (_gate)
        {
            forward = _forward;
            count = forward is null ? 0 : ++_forwarded;
        }
        if (forward is not null)
        {
            forward(number, count);
            return;
        }
        lock (_gate)
        {
            first = _count++ == 0;
            if (first) _signal = number;
            training = _training;
            if (first && training) StoppedTraining = true;
        }
        if (!first)
        {
            _stderr.WriteLine($"{name} again: stopping now{(StoppedTraining ? "; the last complete checkpoint is kept" : "")}.");
            Exit();
            return;
        }
        if (training)
        {
            _stderr.WriteLine($"{name}: finishing the current step and writing a checkpoint… (send it again to stop now)");
            _cancel.Cancel();
            return;
        }
        _stderr.WriteLine($"{name}: stopping (exit {ExitCode}); nothing half-written is kept.");
        _cancel.Cancel();
        // A phase that does not watch the token still ends: after the grace the process exits on its own.
        _ = Task.Delay(Grace).ContinueWith(_ => Exit(), TaskScheduler.Default);
    }

    /// <summary>Deletes registered staging folders and ends the process with the first signal's code.</summary>
    private void Exit()
    {
        string[] temps;
        lock (_gate) temps = [.. _ownTemp];
        foreach (var t in temps)
        {
            try
            {
                if (Directory.Exists(t)) Directory.Delete(t, recursive: true);
                else File.Delete(t);
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        _stderr.Flush();
        Environment.Exit(ExitCode ?? 1);
    }

    public void Dispose()
    {
        foreach (var r in _registrations) r.Dispose();
        if (ReferenceEquals(Current, this)) Current = null;
        _cancel.Dispose();
    }

    private sealed class Leave(Action leave) : IDisposable
    {
        private int _done;
        public void Dispose() { if (Interlocked.Exchange(ref _done, 1) == 0) leave(); }
    }

    private sealed class NoOp : IDisposable
    {
        public static readonly NoOp Instance = new();
        public void Dispose() { }
    }
}
