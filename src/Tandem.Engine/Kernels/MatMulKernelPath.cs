namespace Tandem.Engine.Kernels;

/// <summary>
/// Which instruction set the tiled quantised matmul kernels use. Every path gives each (row, token) exactly the
/// result of the single-pair <c>Dot</c> of the same machine (<see cref="Portable"/>: of the scalar dot), so the
/// choice changes speed only. <see cref="Auto"/> takes the widest the machine has; the others exist so that tests
/// and benchmarks can run each path on one machine.
/// </summary>
public enum MatMulKernelPath
{
    Auto,
    /// <summary>512-bit registers, four rows × eight tokens (AVX-512 F/BW).</summary>
    Avx512,
    /// <summary>256-bit registers with <c>vpdpbusd</c>, a four-row tile run as two halves of two rows × up to four tokens (AVX2 + AVX-VNNI).</summary>
    Avx2Vnni,
    /// <summary>256-bit registers with <c>vpmaddubsw</c>, the same tile shape as <see cref="Avx2Vnni"/> (AVX2 + FMA).</summary>
    Avx2,
    /// <summary>Cross-platform 128-bit vectors (Arm64 NEON, x64 without AVX2), four rows × two tokens.</summary>
    Portable,
}
