using System.Runtime.InteropServices;
using System.Text;

namespace Pretrain.Distributed.Mpi;

/// <summary>
/// The system's Open MPI (libmpi.so.40), loaded at run time: its functions as unmanaged function pointers and its
/// predefined handles. Open MPI's handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, …) are the addresses of exported
/// globals (mpi.h: <c>OMPI_PREDEFINED_GLOBAL(type, global) ((type) &amp;(global))</c>), so each one is
/// <see cref="NativeLibrary.GetExport"/> of the global's name. MPI_IN_PLACE is the constant <c>(void*)1</c>.
/// MPICH's handles are integers with a different ABI: not supported (docs/distributed.md).
/// </summary>
internal sealed unsafe class MpiLibrary
{
    /// <summary>Overrides the library file name (tests use it to show the missing-library error).</summary>
    public const string LibraryVariable = "PRETRAIN_MPI_LIBRARY";
    public const string DefaultLibrary = "libmpi.so.40";
    public const string InstallHint = "apt-get install openmpi-bin libopenmpi-dev";

    public const int Success = 0;
    public const int ThreadSerialized = 2;
    public static readonly IntPtr InPlace = 1;

    public readonly IntPtr CommWorld, ErrorsReturn, RequestNull, Byte, Int32, Int64, Float, Double, OpSum, OpMax, OpMin;

    public readonly delegate* unmanaged<int*, byte***, int, int*, int> Init_thread;
    public readonly delegate* unmanaged<int*, int> Initialized;
    public readonly delegate* unmanaged<int*, int> Finalized;
    public readonly delegate* unmanaged<int> Finalize;
    public readonly delegate* unmanaged<IntPtr, int, int> Abort;
    public readonly delegate* unmanaged<IntPtr, int*, int> Comm_rank;
    public readonly delegate* unmanaged<IntPtr, int*, int> Comm_size;
    public readonly delegate* unmanaged<IntPtr, IntPtr*, int> Comm_dup;
    public readonly delegate* unmanaged<IntPtr*, int> Comm_free;
    public readonly delegate* unmanaged<IntPtr, IntPtr, int> Comm_set_errhandler;
    public readonly delegate* unmanaged<int, byte*, int*, int> Error_string;
    public readonly delegate* unmanaged<IntPtr, IntPtr, int, IntPtr, IntPtr, IntPtr, IntPtr*, int> Iallreduce;
    public readonly delegate* unmanaged<IntPtr, int, IntPtr, int, IntPtr, IntPtr*, int> Ibcast;
    public readonly delegate* unmanaged<IntPtr, IntPtr, int, IntPtr, IntPtr, IntPtr, IntPtr*, int> Ireduce_scatter_block;
    public readonly delegate* unmanaged<IntPtr, int, IntPtr, IntPtr, int, IntPtr, IntPtr, IntPtr*, int> Iallgather;
    public readonly delegate* unmanaged<IntPtr, int, IntPtr, IntPtr, int*, int*, IntPtr, IntPtr, IntPtr*, int> Iallgatherv;
    public readonly delegate* unmanaged<IntPtr, IntPtr*, int> Ibarrier;
    public readonly delegate* unmanaged<IntPtr, int, IntPtr, int, int, IntPtr, IntPtr*, int> Isend;
    public readonly delegate* unmanaged<IntPtr, int, IntPtr, int, int, IntPtr, IntPtr*, int> Irecv;
    public readonly delegate* unmanaged<IntPtr*, int*, IntPtr, int> Test;
    public readonly delegate* unmanaged<int, IntPtr*, int*, int*, IntPtr, int> Testany;
    public readonly delegate* unmanaged<IntPtr*, IntPtr, int> Wait;
    public readonly delegate* unmanaged<IntPtr*, int> Cancel;
    public readonly delegate* unmanaged<IntPtr*, int> Request_free;

    private static readonly Lock LoadLock = new();
    private static MpiLibrary? _loaded;

    /// <summary>The library name to load: <see cref="LibraryVariable"/> when set, else libmpi.so.40.</summary>
    public static string LibraryName =>
        Environment.GetEnvironmentVariable(LibraryVariable) is { Length: > 0 } name ? name : DefaultLibrary;

    /// <summary>Loads the library once per process; a missing library is one error naming the package to install.</summary>
    public static MpiLibrary Load()
    {
        lock (LoadLock) return _loaded ??= new MpiLibrary(LibraryName);
    }

    /// <summary>Loads <paramref name="name"/> without caching it (tests of the missing-library error).</summary>
    internal static MpiLibrary LoadUncached(string name) => new(name);

    private MpiLibrary(string name)
    {
        // RTLD_GLOBAL first: Open MPI's plugins (mca_*.so) resolve libmpi's symbols from the global scope, as
        // mpi4py also arranges. NativeLibrary.Load then returns a handle to the same, already loaded object.
        if (Dl.dlopen(name, Dl.RtldNow | Dl.RtldGlobal) == IntPtr.Zero)
        {
            string why = Marshal.PtrToStringUTF8(Dl.dlerror()) ?? "not found";
            throw new CollectiveException(
                $"the MPI backend needs Open MPI's {name} and it cannot be loaded ({why}): {InstallHint}, and start the job with mpirun");
        }
        IntPtr lib = NativeLibrary.Load(name);
        IntPtr F(string symbol) => NativeLibrary.TryGetExport(lib, symbol, out IntPtr p) ? p
            : throw new CollectiveException($"{name} has no symbol {symbol}: the MPI backend needs Open MPI 4.x ({InstallHint}); MPICH is not supported");

        CommWorld = F("ompi_mpi_comm_world");
        ErrorsReturn = F("ompi_mpi_errors_return");
        RequestNull = F("ompi_request_null");
        Byte = F("ompi_mpi_byte");
        Int32 = F("ompi_mpi_int");
        Int64 = F("ompi_mpi_int64_t");
        Float = F("ompi_mpi_float");
        Double = F("ompi_mpi_double");
        OpSum = F("ompi_mpi_op_sum");
        OpMax = F("ompi_mpi_op_max");
        OpMin = F("ompi_mpi_op_min");

        Init_thread = (delegate* unmanaged<int*, byte***, int, int*, int>)F("MPI_Init_thread");
        Initialized = (delegate* unmanaged<int*, int>)F("MPI_Initialized");
        Finalized = (delegate* unmanaged<int*, int>)F("MPI_Finalized");
        Finalize = (delegate* unmanaged<int>)F("MPI_Finalize");
        Abort = (delegate* unmanaged<IntPtr, int, int>)F("MPI_Abort");
        Comm_rank = (delegate* unmanaged<IntPtr, int*, int>)F("MPI_Comm_rank");
        Comm_size = (delegate* unmanaged<IntPtr, int*, int>)F("MPI_Comm_size");
        Comm_dup = (delegate* unmanaged<IntPtr, IntPtr*, int>)F("MPI_Comm_dup");
        Comm_free = (delegate* unmanaged<IntPtr*, int>)F("MPI_Comm_free");
        Comm_set_errhandler = (delegate* unmanaged<IntPtr, IntPtr, int>)F("MPI_Comm_set_errhandler");
        Error_string = (delegate* unmanaged<int, byte*, int*, int>)F("MPI_Error_string");
        Iallreduce = (delegate* unmanaged<IntPtr, IntPtr, int, IntPtr, IntPtr, IntPtr, IntPtr*, int>)F("MPI_Iallreduce");
        Ibcast = (delegate* unmanaged<IntPtr, int, IntPtr, int, IntPtr, IntPtr*, int>)F("MPI_Ibcast");
        Ireduce_scatter_block = (delegate* unmanaged<IntPtr, IntPtr, int, IntPtr, IntPtr, IntPtr, IntPtr*, int>)F("MPI_Ireduce_scatter_block");
        Iallgather = (delegate* unmanaged<IntPtr, int, IntPtr, IntPtr, int, IntPtr, IntPtr, IntPtr*, int>)F("MPI_Iallgather");
        Iallgatherv = (delegate* unmanaged<IntPtr, int, IntPtr, IntPtr, int*, int*, IntPtr, IntPtr, IntPtr*, int>)F("MPI_Iallgatherv");
        Ibarrier = (delegate* unmanaged<IntPtr, IntPtr*, int>)F("MPI_Ibarrier");
        Isend = (delegate* unmanaged<IntPtr, int, IntPtr, int, int, IntPtr, IntPtr*, int>)F("MPI_Isend");
        Irecv = (delegate* unmanaged<IntPtr, int, IntPtr, int, int, IntPtr, IntPtr*, int>)F("MPI_Irecv");
        Test = (delegate* unmanaged<IntPtr*, int*, IntPtr, int>)F("MPI_Test");
        Testany = (delegate* unmanaged<int, IntPtr*, int*, int*, IntPtr, int>)F("MPI_Testany");
        Wait = (delegate* unmanaged<IntPtr*, IntPtr, int>)F("MPI_Wait");
        Cancel = (delegate* unmanaged<IntPtr*, int>)F("MPI_Cancel");
        Request_free = (delegate* unmanaged<IntPtr*, int>)F("MPI_Request_free");
    }

    /// <summary>Throws a <see cref="CollectiveException"/> with MPI's own text when <paramref name="code"/> is not MPI_SUCCESS.</summary>
    public void Check(int code, string call)
    {
        if (code != Success) throw new CollectiveException($"{call} failed: {ErrorText(code)} (MPI error {code})");
    }

    public string ErrorText(int code)
    {
        byte* text = stackalloc byte[512]; // MPI_MAX_ERROR_STRING is 256 in Open MPI 4.1
        int length = 0;
        return Error_string(code, text, &length) == Success ? Encoding.UTF8.GetString(text, Math.Clamp(length, 0, 511)) : "unknown error";
    }

    private static class Dl
    {
        public const int RtldNow = 0x2, RtldGlobal = 0x100;

        [DllImport("libc.so.6", EntryPoint = "dlopen")]
        public static extern IntPtr dlopen([MarshalAs(UnmanagedType.LPUTF8Str)] string file, int mode);

        [DllImport("libc.so.6", EntryPoint = "dlerror")]
        public static extern IntPtr dlerror();
    }
}
