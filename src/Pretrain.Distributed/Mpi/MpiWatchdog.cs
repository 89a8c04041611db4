using System.Buffers.Binary;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace Pretrain.Distributed.Mpi;

/// <summary>
/// Waits for nonblocking MPI collectives with a deadline, and when one is missed finds out which ranks did not arrive,
/// prints one line and aborts the job (docs/distributed.md, "Collectives").
/// <para>Design: every collective is started nonblocking (MPI_Iallreduce, …) and completed by polling MPI_Test on the
/// calling thread. Open MPI moves a nonblocking collective on only inside MPI_Test, so the loop tests back to back
/// (with Thread.Yield) for the first <see cref="SpinTime"/> and for as long as a test does work (takes longer than
/// <see cref="BusyTest"/>); once a test finds nothing to do it sleeps 1 ms between tests, so a rank waiting for a
/// slow peer costs next to no CPU (Open MPI's blocking collectives busy-poll a whole core instead). No extra thread:
/// MPI runs at MPI_THREAD_SERIALIZED, one call at a time under the backend's lock.</para>
/// <para>Who arrived: each rank has one receive pre-posted from every peer on a private communicator. A rank whose
/// deadline (timeout − grace) passes sends its state (rank, collective name, sequence number) to every peer and
/// collects states for the grace period; a rank that receives a state while it waits does the same at once. So the
/// ranks that are inside a collective answer within milliseconds, and the ones that send nothing are stopped, dead,
/// or busy outside any collective. The lowest responsive rank prints the line and calls MPI_Abort, which makes
/// mpirun end every rank non-zero; the others wait two more grace periods, then report and abort themselves.</para>
/// </summary>
internal sealed unsafe class MpiWatchdog : IDisposable
{
    private const int StateTag = 7_127;
    private const int StateBytes = 64; // rank (4) | sequence (8) | name length (4) | name (≤ 48 UTF-8)
    private static readonly TimeSpan SpinTime = TimeSpan.FromMilliseconds(
        double.TryParse(Environment.GetEnvironmentVariable("PRETRAIN_MPI_SPIN_MS"), System.Globalization.CultureInfo.InvariantCulture, out double ms) ? ms : 10);
    private static readonly TimeSpan BusyTest = TimeSpan.FromMicroseconds(
        double.TryParse(Environment.GetEnvironmentVariable("PRETRAIN_MPI_BUSY_US"), System.Globalization.CultureInfo.InvariantCulture, out double us) ? us : 50);

    private readonly MpiLibrary _mpi;
    private readonly IntPtr _comm;
    private readonly int _rank, _world;
    private readonly TimeSpan _timeout, _grace;
    private readonly IntPtr[] _receives;   // pre-posted MPI_Irecv per peer (MPI_REQUEST_NULL for self)
    private readonly byte* _inbox;         // _world × StateBytes
    private readonly byte* _outbox;        // StateBytes, kept alive until the process ends (abort follows)
    private readonly Dictionary<int, (string Name, long Sequence)> _states = [];
    private string[] _whereIs;             // "pid N on host H" per rank, filled after start-up
    private bool _diagnosing;
    private long _diagnosisEnd;

    public MpiWatchdog(MpiLibrary mpi, IntPtr comm, int rank, int world, TimeSpan timeout)
    {
        (_mpi, _comm, _rank, _world, _timeout) = (mpi, comm, rank, world, timeout);
        _grace = TimeSpan.FromTicks(Math.Clamp(timeout.Ticks / 10, TimeSpan.FromMilliseconds(500).Ticks, TimeSpan.FromSeconds(5).Ticks));
        if (_grace > timeout / 2) _grace = timeout / 2;
        _whereIs = Enumerable.Range(0, world).Select(_ => "pid unknown").ToArray();
        _inbox = (byte*)NativeMemory.AllocZeroed((nuint)(world * StateBytes));
        _outbox = (byte*)NativeMemory.AllocZeroed(StateBytes);
        _receives = new IntPtr[world];
        Array.Fill(_receives, mpi.RequestNull);
        for (int p = 0; p < world; p++)
        {
            if (p == rank) continue;
            fixed (IntPtr* request = &_receives[p])
                _mpi.Check(_mpi.Irecv((IntPtr)(_inbox + p * StateBytes), StateBytes, _mpi.Byte, p, StateTag, _comm, request), "MPI_Irecv");
        }
    }

    /// <summary>The collective's timeout as given (the deadline for MPI_Test is this minus the grace period).</summary>
    public TimeSpan Timeout => _timeout;

    /// <summary>Where each rank runs ("pid N on host H"), for the timeout line; exchanged once at start-up.</summary>
    public void SetLocations(string[] whereIs) => _whereIs = whereIs;

    /// <summary>The deadline (Stopwatch ticks) for a collective starting now.</summary>
    public long DeadlineFromNow() => Stopwatch.GetTimestamp() + (long)((_timeout - _grace).TotalSeconds * Stopwatch.Frequency);

    /// <summary>Called once, just before MPI_Abort (the NCCL communicator is aborted there, so no kernel waits forever).</summary>
    public Action? BeforeAbort { get; set; }

    /// <summary>Completes <paramref name="request"/>, or ends the job if <paramref name="deadline"/> passes first.</summary>
    public void Wait(IntPtr* request, string name, long sequence, long deadline) => Loop(request, null, name, sequence, deadline);

    /// <summary>Polls <paramref name="done"/> (work outside MPI, e.g. a CUDA stream) the same way, with the same diagnosis.</summary>
    public void WaitFor(Func<bool> done, string name, long sequence, long deadline) => Loop(null, done, name, sequence, deadline);

    private void Loop(IntPtr* request, Func<bool>? poll, string name, long sequence, long deadline)
    {
        long start = Stopwatch.GetTimestamp();
        long spinUntil = start + (long)(SpinTime.TotalSeconds * Stopwatch.Frequency);
        long busyTest = (long)(BusyTest.TotalSeconds * Stopwatch.Frequency);
        bool completed = false;
        for (long i = 0; ; i++)
        {
            long before = Stopwatch.GetTimestamp();
            if (!completed)
            {
                if (request != null)
                {
                    int flag = 0;
                    _mpi.Check(_mpi.Test(request, &flag, IntPtr.Zero), $"MPI_Test ({name} #{sequence})");
                    completed = flag != 0;
                }
                else
                {
                    completed = poll!();
                }
            }
            // Once a diagnosis has started the job ends, even if this collective completes meanwhile.
            if (completed && !_diagnosing) return;
            long now = Stopwatch.GetTimestamp();
            // Open MPI moves a nonblocking collective on only inside MPI_Test: keep testing while a test does work
            // (it took a while: data was copied or reduced) or during the first SpinTime; sleep when it found nothing.
            bool spinning = now < spinUntil || now - before > busyTest;
            if (!spinning || i % 64 == 0) PollStates(name, sequence);
            if (!_diagnosing && now > deadline) StartDiagnosis(name, sequence);
            if (_diagnosing && now > _diagnosisEnd) Conclude(name, sequence);
            if (spinning) Thread.Yield();
            else Thread.Sleep(1);
        }
    }

    /// <summary>Cancels the pre-posted receives (before MPI_Finalize).</summary>
    public void Dispose()
    {
        for (int p = 0; p < _world; p++)
        {
            if (_receives[p] == _mpi.RequestNull) continue;
            fixed (IntPtr* request = &_receives[p])
            {
                _mpi.Cancel(request);
                _mpi.Wait(request, IntPtr.Zero);
            }
        }
        NativeMemory.Free(_inbox); // _outbox is only used on the way to MPI_Abort; its send may still be in flight
    }

    private void PollStates(string name, long sequence)
    {
        while (true)
        {
            int index = -1, flag = 0;
            fixed (IntPtr* requests = _receives)
            {
                if (_mpi.Testany(_world, requests, &index, &flag, IntPtr.Zero) != MpiLibrary.Success) return;
            }
            if (flag == 0 || index < 0) return; // MPI_UNDEFINED (−32766) when every request is null
            _states[index] = ReadState(new ReadOnlySpan<byte>(_inbox + index * StateBytes, StateBytes));
            if (!_diagnosing) StartDiagnosis(name, sequence); // a peer timed out: answer with where this rank is
        }
    }

    private void StartDiagnosis(string name, long sequence)
    {
        _diagnosing = true;
        _diagnosisEnd = Stopwatch.GetTimestamp() + (long)(_grace.TotalSeconds * Stopwatch.Frequency);
        _states[_rank] = (name, sequence);
        WriteState(new Span<byte>(_outbox, StateBytes), name, sequence);
        for (int p = 0; p < _world; p++)
        {
            if (p == _rank) continue;
            IntPtr send;
            // Small messages go eagerly, so the send completes even when the peer is stopped; errors (a dead peer)
            // only mean that peer will not answer, which the report says anyway.
            if (_mpi.Isend((IntPtr)_outbox, StateBytes, _mpi.Byte, p, StateTag, _comm, &send) == MpiLibrary.Success)
                _mpi.Request_free(&send);
        }
    }

    private void Conclude(string name, long sequence)
    {
        int reporter = _states.Keys.Min();
        bool late = Stopwatch.GetTimestamp() > _diagnosisEnd + 2 * (long)(_grace.TotalSeconds * Stopwatch.Frequency);
        if (reporter != _rank && !late) return; // the lowest responsive rank reports; this one waits for its abort
        Console.Out.Flush();
        Console.Error.WriteLine(Describe(name, sequence));
        Console.Error.Flush();
        try
        {
            BeforeAbort?.Invoke();
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"(while aborting: {e.Message})");
        }
        _mpi.Abort(_mpi.CommWorld, 1);
        Environment.Exit(1); // MPI_Abort does not return; if it does, still end this rank non-zero
    }

    /// <summary>The one line: which collective, the timeout, and each rank that did not arrive (or is elsewhere).</summary>
    internal string Describe(string name, long sequence)
    {
        var missing = Enumerable.Range(0, _world).Where(r => !_states.ContainsKey(r)).ToList();
        var elsewhere = _states.Where(s => s.Value.Sequence != sequence || s.Value.Name != name).OrderBy(s => s.Key).ToList();
        var parts = new List<string>();
        if (missing.Count > 0)
        {
            string who = missing.Count == 1 ? $"rank {missing[0]} has" : $"ranks {string.Join(", ", missing)} have";
            parts.Add($"{who} not arrived ({string.Join("; ", missing.Select(r => $"rank {r}: {_whereIs[r]}"))})");
        }
        foreach (var (r, s) in elsewhere)
            parts.Add($"rank {r} is in {s.Name} #{s.Sequence} ({_whereIs[r]})");
        if (parts.Count == 0) parts.Add("every rank arrived, but it did not complete (a slow network or an overloaded machine?)");
        return $"collective {name} #{sequence} did not complete within {_timeout.TotalSeconds:0.###} s on rank {_rank}: {string.Join("; ", parts)}";
    }

    private void WriteState(Span<byte> span, string name, long sequence)
    {
        span.Clear();
        BinaryPrimitives.WriteInt32LittleEndian(span, _rank);
        BinaryPrimitives.WriteInt64LittleEndian(span[4..], sequence);
        int length = Encoding.UTF8.GetBytes(name.AsSpan(0, Math.Min(name.Length, 48)), span[16..]);
        BinaryPrimitives.WriteInt32LittleEndian(span[12..], length);
    }

    private static (string Name, long Sequence) ReadState(ReadOnlySpan<byte> span)
    {
        long sequence = BinaryPrimitives.ReadInt64LittleEndian(span[4..]);
        int length = Math.Clamp(BinaryPrimitives.ReadInt32LittleEndian(span[12..]), 0, StateBytes - 16);
        return (Encoding.UTF8.GetString(span.Slice(16, length)), sequence);
    }
}
