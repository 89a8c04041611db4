using System.Runtime.InteropServices;
using System.Text;

namespace Pretrain.Data.Text.HuggingFace;

/// <summary>
/// Unicode normalization (NFC, NFD, NFKC, NFKD) through the system's ICU library. The build runs with invariant
/// globalization (Directory.Build.props), where <see cref="string.Normalize(NormalizationForm)"/> leaves non-ASCII
/// text unchanged; Hugging Face's normalizers need the real thing. ICU is found as .NET itself finds it: libicuuc
/// with its version suffix (Linux), its exports named with or without that suffix. ASCII text needs no ICU.
/// </summary>
internal static class IcuNormalization
{
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate IntPtr GetInstance(ref int error);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate int Normalize(IntPtr normalizer, IntPtr source, int length, IntPtr destination, int capacity, ref int error);

    private sealed record Api(IntPtr Nfc, IntPtr Nfd, IntPtr Nfkc, IntPtr Nfkd, Normalize Run);

    private static readonly Lazy<(Api? Api, string? Why)> Loaded = new(Load);

    /// <summary>Null when ICU works here; else why not.</summary>
    public static string? WhyMissing => Loaded.Value.Why;

    /// <summary><paramref name="s"/> in <paramref name="form"/>; throws <see cref="DataException"/> when ICU is missing and the text is not ASCII.</summary>
    public static string Apply(string s, NormalizationForm form)
    {
        if (Ascii.IsValid(s))
        {
            return s;
        }

        var api = Loaded.Value.Api ?? throw new DataException(
            $"Unicode normalization ({form}) needs the ICU library: {Loaded.Value.Why} (Debian: apt-get install libicu72).");
        IntPtr normalizer = form switch
        {
            NormalizationForm.FormC => api.Nfc,
            NormalizationForm.FormD => api.Nfd,
            NormalizationForm.FormKC => api.Nfkc,
            _ => api.Nfkd,
        };
        int capacity = s.Length * 4 + 16;
        for (int attempt = 0; attempt < 2; attempt++)
        {
            var source = GCHandle.Alloc(s.ToCharArray(), GCHandleType.Pinned);
            var buffer = new char[capacity];
            var destination = GCHandle.Alloc(buffer, GCHandleType.Pinned);
            try
            {
                int error = 0;
                int length = api.Run(normalizer, source.AddrOfPinnedObject(), s.Length, destination.AddrOfPinnedObject(), capacity, ref error);
                if (error == 15 && attempt == 0) // U_BUFFER_OVERFLOW_ERROR: retry with the length ICU asked for
                {
                    capacity = length + 1;
                    continue;
                }

                if (error > 0)
                {
                    return s; // ICU refused the text (e.g. a lone surrogate): left as it is
                }

                return new string(buffer, 0, length);
            }
            finally
            {
                source.Free();
                destination.Free();
            }
        }

        return s;
    }

    private static (Api?, string?) Load()
    {
        var names = new List<(string Library, string Suffix)>();
        if (OperatingSystem.IsWindows())
        {
            names.Add(("icuuc.dll", ""));
            names.Add(("icu.dll", ""));
        }
        else
        {
            string ext = OperatingSystem.IsMacOS() ? "dylib" : "so";
            for (int v = 90; v >= 50; v--)
            {
                names.Add(($"libicuuc.{ext}.{v}", $"_{v}"));
            }

            names.Add(($"libicuuc.{ext}", ""));
        }

        foreach (var (library, suffix) in names)
        {
            if (!NativeLibrary.TryLoad(library, out IntPtr handle))
            {
                continue;
            }

            IntPtr Export(string name) =>
                NativeLibrary.TryGetExport(handle, name + suffix, out IntPtr p) || NativeLibrary.TryGetExport(handle, name, out p) ? p : IntPtr.Zero;

            IntPtr run = Export("unorm2_normalize");
            var getters = new[] { "unorm2_getNFCInstance", "unorm2_getNFDInstance", "unorm2_getNFKCInstance", "unorm2_getNFKDInstance" }.Select(Export).ToArray();
            if (run == IntPtr.Zero || getters.Any(g => g == IntPtr.Zero))
            {
                continue;
            }

            var instances = new IntPtr[4];
            for (int i = 0; i < 4; i++)
            {
                int error = 0;
                instances[i] = Marshal.GetDelegateForFunctionPointer<GetInstance>(getters[i])(ref error);
                if (error > 0 || instances[i] == IntPtr.Zero)
                {
                    return (null, $"{library}: unorm2 instance {i} failed with ICU error {error}");
                }
            }

            return (new Api(instances[0], instances[1], instances[2], instances[3], Marshal.GetDelegateForFunctionPointer<Normalize>(run)), null);
        }

        return (null, "libicuuc was not found");
    }
}
