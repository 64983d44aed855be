using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using TorchSharp;

namespace LatentDiffusion.Runtime;

/// <summary>
/// Makes TorchSharp's native library load on systems whose libstdc++ is older than the one it was built against.
/// </summary>
/// <remarks>
/// Why this exists: TorchSharp 0.107.0's <c>libLibTorchSharp.so</c> was linked with GCC 13 and carries a version
/// need for <c>GLIBCXX_3.4.32</c>, for one symbol only (<c>_ZSt21ios_base_library_initv</c>, which GCC 13's
/// <c>&lt;iostream&gt;</c> emits and no relocation references). Debian 12's libstdc++ stops at 3.4.30, so the loader
/// refuses the library although nothing it calls is missing. When, and only when, the unmodified library fails to
/// load for that reason, a copy with that one version need marked weak is written to a per-user cache and handed to
/// TorchSharp through a DllImport resolver. System libraries are never touched; where the system libstdc++ already
/// has the version, the original loads and nothing else happens.
/// </remarks>
public static class TorchNativeLoader
{
    private const string NativeName = "LibTorchSharp";
    private const string FileName = ElfVersionNeedPatcher.FileName;
    private const string MissingVersion = ElfVersionNeedPatcher.MissingVersion;

    /// <summary>Environment variable that overrides where the patched copy is cached.</summary>
    public const string CacheEnvironmentVariable = "LATENTDIFFUSION_NATIVE_CACHE";

    private static readonly object Gate = new();
    private static bool _done;
    private static Exception? _failure;
    private static string _outcome = "not attempted";

    /// <summary>What the loader did: "not needed", "original loaded", or the path of the patched copy in use.</summary>
    public static string Outcome { get { EnsureLoaded(throwOnFailure: false); return _outcome; } }

    // A library module initializer is exactly what CA2255 warns about, and exactly what is wanted here: consumers
    // of the package must get a loadable TorchSharp before their first tensor call without writing any set-up code.
#pragma warning disable CA2255
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void OnModuleLoad() => EnsureLoaded(throwOnFailure: false);

    /// <summary>Prepares TorchSharp's native library; call before the first TorchSharp call in a process.
    /// Runs once; later calls return at once. Our components call it themselves.</summary>
    public static void EnsureLoaded() => EnsureLoaded(throwOnFailure: true);

    private static void EnsureLoaded(bool throwOnFailure)
    {
        lock (Gate)
        {
            if (!_done)
            {
                _done = true;
                try { _outcome = Prepare(); }
                catch (Exception ex) { _failure = ex; _outcome = "failed: " + ex.Message; }
            }
        }
        if (throwOnFailure && _failure is not null)
            throw new InvalidOperationException(
                "TorchSharp's native library could not be prepared. Reference the TorchSharp-cpu package (or " +
                "TorchSharp-cuda-linux for CUDA) from the application. " + _failure.Message, _failure);
    }

    private static string Prepare()
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64)
            return "not needed";

        var torchAssembly = typeof(torch).Assembly;
        string? original = FindOriginal(torchAssembly);
        if (original is null)
            return "not needed"; // TorchSharp's own probing (and its error message) takes over.

        try
        {
            NativeLibrary.Load(original);
            return "original loaded";
        }
        catch (DllNotFoundException ex) when (ex.Message.Contains(MissingVersion, StringComparison.Ordinal))
        {
            // The one failure that is ours to fix; any other goes up as it is.
        }

        string patched = WritePatchedCopy(original);
        string dir = Path.GetDirectoryName(original)!;
        // The copy lives elsewhere, so its $ORIGIN run path no longer finds libtorch: load its dependencies from the
        // original folder first; the loader then matches the copy's DT_NEEDED entries by their SONAMEs.
        foreach (var dependency in new[] { "libc10.so", "libtorch_cpu.so", "libtorch_cuda.so", "libtorch.so" })
        {
            string path = Path.Combine(dir, dependency);
            if (File.Exists(path)) NativeLibrary.Load(path);
        }
        IntPtr handle = NativeLibrary.Load(patched);
        NativeLibrary.SetDllImportResolver(torchAssembly,
            (name, _, _) => name == NativeName || name == FileName ? handle : IntPtr.Zero);
        return patched;
    }

    private static string? FindOriginal(Assembly torchAssembly)
    {
        var dirs = new List<string>();
        if (AppContext.GetData("NATIVE_DLL_SEARCH_DIRECTORIES") is string searchDirs)
            dirs.AddRange(searchDirs.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries));
        string? torchDir = Path.GetDirectoryName(torchAssembly.Location);
        foreach (var baseDir in new[] { torchDir, AppContext.BaseDirectory })
        {
            if (string.IsNullOrEmpty(baseDir)) continue;
            dirs.Add(baseDir);
            dirs.Add(Path.Combine(baseDir, "runtimes", "linux-x64", "native"));
        }
        foreach (var dir in dirs)
        {
            string candidate = Path.Combine(dir, FileName);
            // Both libraries must sit together: the patched copy borrows libtorch from the same folder.
            if (File.Exists(candidate) && (File.Exists(Path.Combine(dir, "libtorch.so"))))
                return Path.GetFullPath(candidate);
        }
        return null;
    }

    private static string WritePatchedCopy(string original)
    {
        byte[] bytes = File.ReadAllBytes(original);
        string hash = Convert.ToHexString(SHA256.HashData(bytes))[..16].ToLowerInvariant();
        string root = Environment.GetEnvironmentVariable(CacheEnvironmentVariable) is { Length: > 0 } overridden
            ? overridden
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData,
                Environment.SpecialFolderOption.Create) is { Length: > 0 } local
                ? local : Path.GetTempPath(), "LatentDiffusion", "native");
        string dir = Path.Combine(root, hash);
        string target = Path.Combine(dir, FileName);
        if (File.Exists(target)) return target;

        if (ElfVersionNeedPatcher.MarkWeak(bytes, MissingVersion) == 0)
            throw new InvalidDataException($"'{original}' has no {MissingVersion} version need to relax.");
        Directory.CreateDirectory(dir);
        string temp = Path.Combine(dir, $".{FileName}.{Environment.ProcessId}.tmp");
        File.WriteAllBytes(temp, bytes);
        File.Move(temp, target, overwrite: true); // atomic: concurrent processes write identical bytes
        return target;
    }
}
