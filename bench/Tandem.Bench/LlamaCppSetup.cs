using LLama.Native;

namespace Tandem.Bench;

/// <summary>
/// One-time setup of LLamaSharp's native llama.cpp library: silences llama.cpp/ggml logging (it would mix with
/// the benchmark output) but keeps the last warning/error line for failure messages.
/// </summary>
public static class LlamaCppSetup
{
    private static readonly Lock Gate = new();
    private static bool _initialized;
    private static volatile string? _lastProblem;

    public static string? LastProblem => _lastProblem;

    /// <summary>Where the loaded libllama came from (Linux only: read from /proc/self/maps), to see which CPU variant was picked.</summary>
    public static string? LoadedLibraryPath =>
        File.Exists("/proc/self/maps")
            ? File.ReadLines("/proc/self/maps").Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries).LastOrDefault())
                .FirstOrDefault(p => p != null && p.EndsWith("/libllama.so", StringComparison.Ordinal))
            : null;

    public static void EnsureInitialized()
    {
        lock (Gate)
        {
            if (_initialized)
                return;
            // Configuration is only accepted before LLamaSharp loads the library (it picks
            // runtimes/linux-x64/native/{avx512,avx2,avx,noavx} from the CPU's features on first native call).
            if (!NativeLibraryConfig.LLama.LibraryHasLoaded)
                NativeLibraryConfig.All.WithLogCallback(OnLog).WithAutoFallback(true);
            NativeApi.llama_empty_call();
            NativeLogConfig.llama_log_set(OnLog);
            _initialized = true;
        }
    }

    private static void OnLog(LLamaLogLevel level, string message)
    {
        if (level is LLamaLogLevel.Warning or LLamaLogLevel.Error && !string.IsNullOrWhiteSpace(message))
            _lastProblem = message.TrimEnd();
    }
}
