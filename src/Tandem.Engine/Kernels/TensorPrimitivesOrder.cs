using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace Tandem.Engine.Kernels;

/// <summary>
/// The two sums of attention over an F16 KV cache in the order <c>TensorPrimitives</c> adds them, so that a kernel
/// can compute many of them without a library call (and its dispatch) for each 64-float row and still get the
/// same bits: K·q through <c>TensorPrimitives.Dot</c> (<see cref="ScaledDots"/>) and V·p through
/// <c>TensorPrimitives.MultiplyAdd</c> once per cell (<see cref="WeightedRowSum"/>), which is what F16 attention
/// has always called, so its results follow these orders.
/// <para>
/// For a row of n floats (n ≥ the vector width C of the widest vectors .NET accelerates here) Dot keeps one
/// vector accumulator: for n ≤ 8C it adds the row's vectors in order (0 + v0 + v1 + …); for longer rows it first
/// adds vectors 1..8k in its unrolled loop, then vector 0, then the rest. A row that is not a whole number of
/// vectors adds an overlapping masked last vector, and rows shorter than C take a narrower vector: only the
/// rows of whole vectors are reproduced here (<see cref="BlockOrder"/> says which); the caller calls Dot for others.
/// The accumulator is then summed with <c>VectorN.Sum</c>, as Dot does.
/// </para>
/// <para>
/// The kernels multiply and add with one FMA. That gives Dot's numbers only because each product here is exact
/// (both factors went through F16, so a product has at most 22 significant bits): then rounding the product
/// before the addition, as Dot does, changes nothing.
/// </para>
/// </summary>
internal static unsafe class TensorPrimitivesOrder
{
    /// <summary>Floats per vector of the widest path <c>TensorPrimitives</c> takes here: 16, 8, 4, or 0 (scalar only).</summary>
    public static int Width { get; } = Vector512.IsHardwareAccelerated ? 16
        : Vector256.IsHardwareAccelerated ? 8 : Vector128.IsHardwareAccelerated ? 4 : 0;

    /// <summary>Whether a vector FMA is one instruction here (else the kernels multiply and add: the same numbers, see the class comment).</summary>
    private static readonly bool HasFma = Fma.IsSupported || AdvSimd.IsSupported;

    /// <summary>
    /// The offsets (in floats) of the vectors of a row of <paramref name="n"/> floats in the order Dot adds them,
    /// and the vector width it uses for such rows; null when Dot's order for <paramref name="n"/> is not a
    /// sequence of whole vectors (then <paramref name="width"/> is 0 and the caller must call Dot itself).
    /// </summary>
    public static int[]? BlockOrder(int n, out int width)
    {
        int c = Width;
        width = 0;
        if (c == 0 || n <= 0) return null;
        if (n < c)
        {
            // Below one vector Dot takes its small path: a row of exactly one 8- or 4-float vector is that vector's Sum.
            if (n is 8 or 4 && (n == 4 ? Vector128.IsHardwareAccelerated : Vector256.IsHardwareAccelerated))
            {
                width = n;
                return [0];
            }
            return null;
        }
        if (n % c != 0) return null;
        width = c;
        int vectors = n / c;
        var order = new List<int>(vectors);
        if (n <= 8 * c)
            for (int i = 0; i < vectors; i++) order.Add(i * c);
        else
        {
            // The unrolled loop starts after the first vector (held back as "beg") and takes 8 vectors per round
            // while 8 remain; then beg, then the vectors left, one by one.
            int next = 1, remaining = n - c;
            for (; remaining >= 8 * c; remaining -= 8 * c)
                for (int i = 0; i < 8; i++) order.Add(next++ * c);
            order.Add(0);
            for (; next < vectors; next++) order.Add(next * c);
        }
        return order.ToArray();
    }

    /// <summary>
    /// <c>results[j] = Dot(rows + j·stride, y) · scale</c> for <paramref name="count"/> rows, each dot in Dot's order
    /// (<paramref name="order"/> and <paramref name="width"/> from <see cref="BlockOrder"/>).
    /// <para>
    /// A group of cells' accumulators is summed together (<see cref="TransposedVectorSum"/>: the same additions as
    /// <c>VectorN.Sum</c> of each, several sums per vector addition) and scaled with one vector multiply; the cells
    /// after the last whole group take <c>VectorN.Sum</c> one by one. One <c>Vector512.Sum</c> per (query, cell)
    /// was 7% of F16 prefill.
    /// </para>
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    [SkipLocalsInit]
    public static void ScaledDots(float* rows, int count, int stride, float* y, int[] order, int width, float scale, float* results)
    {
        fixed (int* o = order)
        {
            int blocks = order.Length, j = 0;
            // A group's accumulators, 64-byte aligned so that none of their stores and loads splits a cache line.
            byte* raw = stackalloc byte[17 * 64];
            void* group = (void*)(((nuint)raw + 63) & ~(nuint)63);
            if (width == 16 && blocks == 4 && o[3] == 48)
            {
                // 64-float rows (heads of 64) on 512-bit vectors: Dot adds the four vectors in order; y stays in registers.
                Vector512<float> y0 = Vector512.Load(y), y1 = Vector512.Load(y + 16), y2 = Vector512.Load(y + 32), y3 = Vector512.Load(y + 48);
                var acc = (Vector512<float>*)group;
                if (Avx512F.IsSupported)
                    for (; j + 16 <= count; j += 16)
                    {
                        float* r = rows + (long)j * stride;
                        for (int c = 0; c < 16; c++, r += stride)
                            acc[c] = Dot64(r, y0, y1, y2, y3);
                        Vector512.Store(TransposedVectorSum.Sum16(acc) * Vector512.Create(scale), results + j);
                    }
                for (float* r = rows + (long)j * stride; j < count; j++, r += stride)
                    results[j] = Vector512.Sum(Dot64(r, y0, y1, y2, y3)) * scale;
            }
            else if (width == 8 && blocks == 8 && o[7] == 56 && HasFma)
            {
                // The same on 256-bit vectors: eight vectors in order.
                Vector256<float> y0 = Vector256.Load(y), y1 = Vector256.Load(y + 8), y2 = Vector256.Load(y + 16), y3 = Vector256.Load(y + 24);
                Vector256<float> y4 = Vector256.Load(y + 32), y5 = Vector256.Load(y + 40), y6 = Vector256.Load(y + 48), y7 = Vector256.Load(y + 56);
                var acc = (Vector256<float>*)group;
                if (Avx.IsSupported)
                    for (; j + 8 <= count; j += 8)
                    {
                        float* r = rows + (long)j * stride;
                        for (int c = 0; c < 8; c++, r += stride)
                            acc[c] = Dot64(r, y0, y1, y2, y3, y4, y5, y6, y7);
                        Vector256.Store(TransposedVectorSum.Sum8(acc) * Vector256.Create(scale), results + j);
                    }
                for (float* r = rows + (long)j * stride; j < count; j++, r += stride)
                    results[j] = Vector256.Sum(Dot64(r, y0, y1, y2, y3, y4, y5, y6, y7)) * scale;
            }
            else if (width == 16)
            {
                var acc = (Vector512<float>*)group;
                if (Avx512F.IsSupported)
                    for (; j + 16 <= count; j += 16)
                    {
                        float* r = rows + (long)j * stride;
                        for (int c = 0; c < 16; c++, r += stride)
                            acc[c] = Dot512(r, y, o, blocks);
                        Vector512.Store(TransposedVectorSum.Sum16(acc) * Vector512.Create(scale), results + j);
                    }
                for (float* r = rows + (long)j * stride; j < count; j++, r += stride)
                    results[j] = Vector512.Sum(Dot512(r, y, o, blocks)) * scale;
            }
            else if (width == 8)
            {
                var acc = (Vector256<float>*)group;
                if (Avx.IsSupported)
                    for (; j + 8 <= count; j += 8)
                    {
                        float* r = rows + (long)j * stride;
                        for (int c = 0; c < 8; c++, r += stride)
                            acc[c] = Dot256(r, y, o, blocks);
                        Vector256.Store(TransposedVectorSum.Sum8(acc) * Vector256.Create(scale), results + j);
                    }
                for (float* r = rows + (long)j * stride; j < count; j++, r += stride)
                    results[j] = Vector256.Sum(Dot256(r, y, o, blocks)) * scale;
            }
            else
            {
                var acc = (Vector128<float>*)group;
                if (Sse.IsSupported)
                    for (; j + 4 <= count; j += 4)
                    {
                        float* r = rows + (long)j * stride;
                        for (int c = 0; c < 4; c++, r += stride)
                            acc[c] = Dot128(r, y, o, blocks);
                        Vector128.Store(TransposedVectorSum.Sum4(acc) * Vector128.Create(scale), results + j);
                    }
                for (float* r = rows + (long)j * stride; j < count; j++, r += stride)
                    results[j] = Vector128.Sum(Dot128(r, y, o, blocks)) * scale;
            }
        }
    }

    /// <summary>One 64-float row's Dot accumulator on 512-bit vectors: its four vectors in order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Dot64(float* r, Vector512<float> y0, Vector512<float> y1, Vector512<float> y2, Vector512<float> y3)
    {
        var acc = Vector512.FusedMultiplyAdd(Vector512.Load(r), y0, Vector512<float>.Zero);
        acc = Vector512.FusedMultiplyAdd(Vector512.Load(r + 16), y1, acc);
        acc = Vector512.FusedMultiplyAdd(Vector512.Load(r + 32), y2, acc);
        return Vector512.FusedMultiplyAdd(Vector512.Load(r + 48), y3, acc);
    }

    /// <summary>One 64-float row's Dot accumulator on 256-bit vectors (FMA only): its eight vectors in order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Dot64(float* r, Vector256<float> y0, Vector256<float> y1, Vector256<float> y2, Vector256<float> y3,
        Vector256<float> y4, Vector256<float> y5, Vector256<float> y6, Vector256<float> y7)
    {
        var acc = Vector256.FusedMultiplyAdd(Vector256.Load(r), y0, Vector256<float>.Zero);
        acc = Vector256.FusedMultiplyAdd(Vector256.Load(r + 8), y1, acc);
        acc = Vector256.FusedMultiplyAdd(Vector256.Load(r + 16), y2, acc);
        acc = Vector256.FusedMultiplyAdd(Vector256.Load(r + 24), y3, acc);
        acc = Vector256.FusedMultiplyAdd(Vector256.Load(r + 32), y4, acc);
        acc = Vector256.FusedMultiplyAdd(Vector256.Load(r + 40), y5, acc);
        acc = Vector256.FusedMultiplyAdd(Vector256.Load(r + 48), y6, acc);
        return Vector256.FusedMultiplyAdd(Vector256.Load(r + 56), y7, acc);
    }

    /// <summary>A row's Dot accumulator on 512-bit vectors, its vectors in <paramref name="o"/>'s order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Dot512(float* r, float* y, int* o, int blocks)
    {
        var acc = Vector512<float>.Zero;
        for (int b = 0; b < blocks; b++)
            acc = Vector512.FusedMultiplyAdd(Vector512.Load(r + o[b]), Vector512.Load(y + o[b]), acc);
        return acc;
    }

    /// <summary>A row's Dot accumulator on 256-bit vectors, its vectors in <paramref name="o"/>'s order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Dot256(float* r, float* y, int* o, int blocks)
    {
        var acc = Vector256<float>.Zero;
        for (int b = 0; b < blocks; b++)
            acc = Mad(Vector256.Load(r + o[b]), Vector256.Load(y + o[b]), acc);
        return acc;
    }

    /// <summary>A row's Dot accumulator on 128-bit vectors, its vectors in <paramref name="o"/>'s order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> Dot128(float* r, float* y, int* o, int blocks)
    {
        var acc = Vector128<float>.Zero;
        for (int b = 0; b < blocks; b++)
            acc = Mad(Vector128.Load(r + o[b]), Vector128.Load(y + o[b]), acc);
        return acc;
    }

    /// <summary>
    /// <c>o[d] += Σ_j rows[j·stride + d] · p[j]</c> for d &lt; <paramref name="n"/>, each element's products added one
    /// cell after the other (what <c>TensorPrimitives.MultiplyAdd(v_j, p_j, o, o)</c> per cell computes, given exact
    /// products). Four vectors of elements at a time, so that four FMA chains run side by side.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void WeightedRowSum(float* rows, int count, int stride, float* p, float* o, int n)
    {
        int d = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; d + 64 <= n; d += 64)
            {
                float* r = rows + d;
                Vector512<float> a0 = Vector512.Load(o + d), a1 = Vector512.Load(o + d + 16);
                Vector512<float> a2 = Vector512.Load(o + d + 32), a3 = Vector512.Load(o + d + 48);
                for (int j = 0; j < count; j++, r += stride)
                {
                    var pj = Vector512.Create(p[j]);
                    a0 = Vector512.FusedMultiplyAdd(Vector512.Load(r), pj, a0);
                    a1 = Vector512.FusedMultiplyAdd(Vector512.Load(r + 16), pj, a1);
                    a2 = Vector512.FusedMultiplyAdd(Vector512.Load(r + 32), pj, a2);
                    a3 = Vector512.FusedMultiplyAdd(Vector512.Load(r + 48), pj, a3);
                }
                Vector512.Store(a0, o + d); Vector512.Store(a1, o + d + 16);
                Vector512.Store(a2, o + d + 32); Vector512.Store(a3, o + d + 48);
            }
            for (; d + 16 <= n; d += 16)
            {
                float* r = rows + d;
                var a = Vector512.Load(o + d);
                for (int j = 0; j < count; j++, r += stride)
                    a = Vector512.FusedMultiplyAdd(Vector512.Load(r), Vector512.Create(p[j]), a);
                Vector512.Store(a, o + d);
            }
        }
        if (Vector256.IsHardwareAccelerated)
        {
            for (; d + 32 <= n; d += 32)
            {
                float* r = rows + d;
                Vector256<float> a0 = Vector256.Load(o + d), a1 = Vector256.Load(o + d + 8);
                Vector256<float> a2 = Vector256.Load(o + d + 16), a3 = Vector256.Load(o + d + 24);
                for (int j = 0; j < count; j++, r += stride)
                {
                    var pj = Vector256.Create(p[j]);
                    a0 = Mad(Vector256.Load(r), pj, a0);
                    a1 = Mad(Vector256.Load(r + 8), pj, a1);
                    a2 = Mad(Vector256.Load(r + 16), pj, a2);
                    a3 = Mad(Vector256.Load(r + 24), pj, a3);
                }
                Vector256.Store(a0, o + d); Vector256.Store(a1, o + d + 8);
                Vector256.Store(a2, o + d + 16); Vector256.Store(a3, o + d + 24);
            }
            for (; d + 8 <= n; d += 8)
            {
                float* r = rows + d;
                var a = Vector256.Load(o + d);
                for (int j = 0; j < count; j++, r += stride)
                    a = Mad(Vector256.Load(r), Vector256.Create(p[j]), a);
                Vector256.Store(a, o + d);
            }
        }
        if (Vector128.IsHardwareAccelerated)
        {
            for (; d + 16 <= n; d += 16)
            {
                float* r = rows + d;
                Vector128<float> a0 = Vector128.Load(o + d), a1 = Vector128.Load(o + d + 4);
                Vector128<float> a2 = Vector128.Load(o + d + 8), a3 = Vector128.Load(o + d + 12);
                for (int j = 0; j < count; j++, r += stride)
                {
                    var pj = Vector128.Create(p[j]);
                    a0 = Mad(Vector128.Load(r), pj, a0);
                    a1 = Mad(Vector128.Load(r + 4), pj, a1);
                    a2 = Mad(Vector128.Load(r + 8), pj, a2);
                    a3 = Mad(Vector128.Load(r + 12), pj, a3);
                }
                Vector128.Store(a0, o + d); Vector128.Store(a1, o + d + 4);
                Vector128.Store(a2, o + d + 8); Vector128.Store(a3, o + d + 12);
            }
            for (; d + 4 <= n; d += 4)
            {
                float* r = rows + d;
                var a = Vector128.Load(o + d);
                for (int j = 0; j < count; j++, r += stride)
                    a = Mad(Vector128.Load(r), Vector128.Create(p[j]), a);
                Vector128.Store(a, o + d);
            }
        }
        for (; d < n; d++)
        {
            float a = o[d];
            float* r = rows + d;
            for (int j = 0; j < count; j++, r += stride)
                a += *r * p[j];
            o[d] = a;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Mad(Vector256<float> x, Vector256<float> y, Vector256<float> z) =>
        HasFma ? Vector256.FusedMultiplyAdd(x, y, z) : z + x * y;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> Mad(Vector128<float> x, Vector128<float> y, Vector128<float> z) =>
        HasFma ? Vector128.FusedMultiplyAdd(x, y, z) : z + x * y;
}
