using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Tandem.Engine.Kernels;

/// <summary>
/// The SIMD level of the llama.cpp CPU build that runs on this machine, and the horizontal sums it uses.
/// llama.cpp's float kernels (F32/F16/BF16 dot products, tinyBLAS, exp, softmax sums) round differently per
/// level because they group additions by vector width, so to compute exactly what llama.cpp computes we
/// group our additions the same way. LLamaSharp (and llama.cpp's own dynamic backend loader) pick the
/// AVX-512 build when the CPU has AVX-512 F/DQ, else the AVX2 build; <see cref="Width"/> follows that choice.
/// </summary>
public static class GgmlSimd
{
    /// <summary>Floats per ggml vector: 16 (AVX-512 build), 8 (AVX2+FMA build), 0 (anything else: no bit-exact path).</summary>
    public static int Width { get; } =
        Avx512F.IsSupported && Avx512DQ.IsSupported ? 16 : Avx2.IsSupported && Fma.IsSupported ? 8 : 0;

    /// <summary><c>_mm512_reduce_add_ps</c> as GCC implements it: halves 16 → 8 → 4, then (0+2) + (1+3).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ReduceAdd(Vector512<float> v) => ReduceAdd(v.GetLower() + v.GetUpper());

    /// <summary>
    /// ggml's AVX <c>hsum</c> (tinyBLAS, softmax): high 128 + low 128, then movehl, then movehdup, i.e.
    /// (0+2) + (1+3) of the 4-lane sum.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ReduceAdd(Vector256<float> v)
    {
        Vector128<float> q = v.GetLower() + v.GetUpper();
        return (q.GetElement(0) + q.GetElement(2)) + (q.GetElement(1) + q.GetElement(3));
    }

    /// <summary>
    /// <c>GGML_F32x8_REDUCE</c>'s last step (ggml_vec_dot_* on AVX2): low 128 + high 128, then two
    /// <c>hadd</c>s, i.e. (0+1) + (2+3) of the 4-lane sum.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ReduceAddHadd(Vector256<float> v)
    {
        Vector128<float> q = v.GetLower() + v.GetUpper();
        return (q.GetElement(0) + q.GetElement(1)) + (q.GetElement(2) + q.GetElement(3));
    }
}
