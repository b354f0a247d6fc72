using LLama.Native;

namespace Tandem.Engine.Tests.Oracle;

/// <summary>
/// One-time setup of LLamaSharp's native llama.cpp library for the oracle and the benchmarks (bench/Tandem.Bench
/// compiles this file too): silences llama.cpp/ggml logging
/// (model-load chatter would otherwise flood test output) and keeps the most recent warning/error line so
/// failures can say what llama.cpp complained about.
/// </summary>
public static class LlamaCppNative
{
    private static readonly Lock Gate = new();
    private static bool _initialized;
    private static volatile string? _lastProblem;

    /// <summary>The last warning or error line llama.cpp logged, if any.</summary>
    public static string? LastProblem => _lastProblem;

    /// <summary>Where the loaded libllama came from (Linux only: read from /proc/self/maps), to see which CPU variant was picked.</summary>
    public static string? LoadedLibraryPath =>
        File.Exists("/proc/self/maps")
            ? File.ReadLines("/proc/self/maps").Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries).LastOrDefault())
                .FirstOrDefault(p => p != null && p.EndsWith("/libllama.so", StringComparison.Ordinal))
            : null;

    /// <summary>Configures logging and loads the native library. Safe to call many times, from any thread.</summary>
    public static void EnsureInitialized()
    {
        lock (Gate)
        {
            if (_initialized)
                return;

            // The configuration can only be changed before LLamaSharp loads the library; if someone else loaded
            // it first, install the callback directly instead. Both routes end in llama_log_set, which also
            // redirects ggml's own logging.
            if (!NativeLibraryConfig.LLama.LibraryHasLoaded)
                NativeLibraryConfig.All.WithLogCallback(OnLog).WithAutoFallback(true);

            // Any native call triggers loading; LLamaSharp picks runtimes/linux-x64/native/{avx512,avx2,avx,noavx}
            // from the CPU's features.
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
