using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Tandem.Engine.Quantization;

/// <summary>
/// The scale step of a K-quant AVX2 kernel: <c>acc + scale · (p[2i] + p[2i + 1])</c> per 32-bit lane, for 16-bit
/// products <c>p</c> (<c>vpmaddubsw</c>'s) and a 16-bit sub-block scale. Exact integers either way (no lane comes
/// near 2^31), so both implementations give the same lanes as ggml's <c>vpmaddwd</c> then <c>vpaddd</c>.
/// </summary>
internal interface IScaledSums256
{
    static abstract Vector256<int> Add(Vector256<int> acc, Vector256<short> products, Vector256<short> scale);
}

/// <summary>AVX-VNNI: <c>vpdpwssd</c>, the multiply, pair sum and accumulation in one instruction.</summary>
internal readonly struct VnniScaledSums : IScaledSums256
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Add(Vector256<int> acc, Vector256<short> products, Vector256<short> scale) =>
        AvxVnni.MultiplyWideningAndAdd(acc, products, scale);
}

/// <summary>Plain AVX2: <c>vpmaddwd</c> then <c>vpaddd</c>, as ggml.</summary>
internal readonly struct MaddScaledSums : IScaledSums256
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Add(Vector256<int> acc, Vector256<short> products, Vector256<short> scale) =>
        acc + Avx2.MultiplyAddAdjacent(products, scale);
}
