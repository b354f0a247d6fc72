using Tandem.Engine.Kernels;
using Tandem.Engine.Tests.Oracle;

namespace Tandem.Engine.Tests.Agreement;

/// <summary>
/// Whether <see cref="LlamaCppAgreementTests.RelativeBound"/> applies to the llama.cpp build LLamaSharp loaded. The bound
/// was set where the engine follows that build's summation order: its avx512 build with the engine's 16-lane float
/// sums, or its avx2 build with the 8-lane ones (<see cref="GgmlSimd.Width"/>). Anywhere else (LLamaSharp's avx or
/// noavx build under <c>DOTNET_EnableAVX2=0</c>, an Arm64 build, a platform where the loaded library cannot be seen)
/// the engine's portable path sums in another order, and a 1-ulp difference can flip a rounding of a quantised or
/// 16-bit activation and move the logits by 1e-3 to 1e-2 (measured: 1.5e-4 to 9.4e-3 against the avx build), so a
/// bound of 1e-4 there would fail without saying anything about correctness: the logits comparisons skip, with the
/// reason. Greedy continuations are still compared everywhere.
/// </summary>
internal static class OracleBuildBound
{
    /// <summary>Skips the calling test unless the bound applies. Call after an oracle is created (the library is loaded then).</summary>
    public static void SkipUnlessItApplies()
    {
        string? reason = WhyNot(LlamaCppNative.LoadedLibraryPath, GgmlSimd.Width);
        Skip.If(reason is not null, reason);
    }

    /// <summary>Why the logits bound does not hold for this oracle build and engine width, or null when it does.</summary>
    public static string? WhyNot(string? loadedLibrary, int engineWidth)
    {
        if (loadedLibrary is null)
            return "cannot tell which llama.cpp build LLamaSharp loaded (only read on Linux), so not which summation order the logits bound assumes";
        string build = Path.GetFileName(Path.GetDirectoryName(loadedLibrary)) ?? "";
        string? expected = engineWidth switch { 16 => "avx512", 8 => "avx2", _ => null };
        if (expected is null)
            return $"the engine has no ggml-ordered float sums on this CPU (no AVX2+FMA as .NET reports it) and LLamaSharp loaded its '{build}' build: " +
                   $"the {LlamaCppAgreementTests.RelativeBound:E0} logits bound was set for the avx512 and avx2 builds against the engine's matching paths";
        return build == expected ? null
            : $"LLamaSharp loaded its '{build}' build, but the engine sums as the '{expected}' build does: the {LlamaCppAgreementTests.RelativeBound:E0} logits bound assumes the same order";
    }
}
