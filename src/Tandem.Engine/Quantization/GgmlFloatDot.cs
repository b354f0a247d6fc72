using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Tandem.Engine.Kernels;

namespace Tandem.Engine.Quantization;

/// <summary>
/// Dot products of F32, F16 and BF16 rows in exactly the order llama.cpp's CPU backend adds them, so that float
/// models (and F32 attention) give llama.cpp's numbers to the bit. ggml has two kernels for these types:
/// <list type="bullet">
/// <item><c>ggml_vec_dot_f32</c>/<c>ggml_vec_dot_f16</c> (vec.cpp), used when a matmul has one activation row:
/// four vector accumulators over steps of four vectors, summed (0+2)+(1+3) and reduced, then the elements
/// after the last whole step added one by one (in float for F32, in double for F16). <c>ggml_vec_dot_bf16</c>
/// is written per ISA and groups differently (see <see cref="VecDotBF16"/>).</item>
/// <item>llamafile's tinyBLAS (sgemm.cpp), used for two or more activation rows when the weight has a multiple
/// of 4 rows and the row length is a multiple of the vector width: one vector accumulator per output over the
/// whole row, then one horizontal sum; LLamaSharp's builds run F32, F16 and BF16 batches through it.</item>
/// </list>
/// Vector widths follow <see cref="GgmlSimd.Width"/>. F16 values are widened exactly; rows holding an F16
/// inf/NaN are redone on a plain path (their result is inf/NaN whatever the order).
/// </summary>
public static class GgmlFloatDot
{
    private static int Width => GgmlSimd.Width;

    /// <summary>
    /// Whether llama.cpp computes a matmul of <paramref name="rows"/> × <paramref name="cols"/> F32/F16/BF16 weights
    /// with <paramref name="n"/> activation rows through tinyBLAS (<c>llamafile_sgemm</c>: n ≥ 2, k % KN == 0,
    /// m % 4 == 0) rather than one <c>ggml_vec_dot</c> per output.
    /// </summary>
    public static bool UsesTinyBlas(int rows, int cols, int n) =>
        Width > 0 && n >= 2 && rows % 4 == 0 && cols % Width == 0;

    /// <summary><c>ggml_vec_dot_f32</c>.</summary>
    public static float VecDotF32(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        int n = x.Length, i = 0;
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float yr = ref MemoryMarshal.GetReference(y);
        float sum = 0;
        if (Width == 16)
        {
            Vector512<float> a0 = Vector512<float>.Zero, a1 = a0, a2 = a0, a3 = a0;
            for (; i + 64 <= n; i += 64)
            {
                a0 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref xr, (nuint)i), Vector512.LoadUnsafe(ref yr, (nuint)i), a0);
                a1 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref xr, (nuint)i + 16), Vector512.LoadUnsafe(ref yr, (nuint)i + 16), a1);
                a2 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref xr, (nuint)i + 32), Vector512.LoadUnsafe(ref yr, (nuint)i + 32), a2);
                a3 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref xr, (nuint)i + 48), Vector512.LoadUnsafe(ref yr, (nuint)i + 48), a3);
            }
            sum = GgmlSimd.ReduceAdd((a0 + a2) + (a1 + a3));
        }
        else if (Width == 8)
        {
            Vector256<float> a0 = Vector256<float>.Zero, a1 = a0, a2 = a0, a3 = a0;
            for (; i + 32 <= n; i += 32)
            {
                a0 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref xr, (nuint)i), Vector256.LoadUnsafe(ref yr, (nuint)i), a0);
                a1 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref xr, (nuint)i + 8), Vector256.LoadUnsafe(ref yr, (nuint)i + 8), a1);
                a2 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref xr, (nuint)i + 16), Vector256.LoadUnsafe(ref yr, (nuint)i + 16), a2);
                a3 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref xr, (nuint)i + 24), Vector256.LoadUnsafe(ref yr, (nuint)i + 24), a3);
            }
            sum = GgmlSimd.ReduceAddHadd((a0 + a2) + (a1 + a3));
        }
        // The tail loop (sumf += x[i]*y[i]) as GCC compiled it in LLamaSharp's builds (read from the disassembly,
        // confirmed against llama.cpp's attention scores): vectorised as products that are then added one by one
        // in order (no FMA), and the elements left after the last vector contracted to scalar FMAs. The avx512
        // build vectorises it over 16 and then 8 elements (FMAs for the last < 8), the avx2 build over 8 and then
        // 4 (FMAs for the last < 4): either way the in-order products cover whole multiples of half a vector.
        int plainBlock = Width == 8 ? 4 : 8;
        int plainEnd = i + (n - i) / plainBlock * plainBlock;
        for (; i < plainEnd; i++)
            sum += x[i] * y[i];
        for (; i < n; i++)
            sum = MathF.FusedMultiplyAdd(x[i], y[i], sum);
        return sum;
    }

    /// <summary>tinyBLAS's F32 dot for one output: one FMA accumulator of <see cref="GgmlSimd.Width"/> lanes, then its hsum.</summary>
    public static float TinyBlasF32(ReadOnlySpan<float> x, ReadOnlySpan<float> y) => TinyBlas<F32Lanes, float>(x, y);

    /// <summary>tinyBLAS's BF16 dot for one output (both operands widened to F32, one FMA accumulator, hsum).</summary>
    public static float TinyBlasBF16(ReadOnlySpan<ushort> x, ReadOnlySpan<ushort> y) => TinyBlas<BF16Lanes, ushort>(x, y);

    /// <summary>
    /// tinyBLAS's dot for one output of an element type that widens to F32 exactly: one FMA accumulator of
    /// <see cref="GgmlSimd.Width"/> lanes over the whole row (its length a multiple of the width), then its hsum.
    /// </summary>
    private static float TinyBlas<TLanes, T>(ReadOnlySpan<T> x, ReadOnlySpan<T> y) where TLanes : IFloatLanes<T> where T : unmanaged
    {
        int n = x.Length;
        ref T xr = ref MemoryMarshal.GetReference(x);
        ref T yr = ref MemoryMarshal.GetReference(y);
        if (Width == 16)
        {
            var acc = Vector512<float>.Zero;
            for (int i = 0; i < n; i += 16)
                acc = Vector512.FusedMultiplyAdd(TLanes.Load16(ref xr, i), TLanes.Load16(ref yr, i), acc);
            return GgmlSimd.ReduceAdd(acc);
        }
        else
        {
            var acc = Vector256<float>.Zero;
            for (int i = 0; i < n; i += 8)
                acc = Vector256.FusedMultiplyAdd(TLanes.Load8(ref xr, i), TLanes.Load8(ref yr, i), acc);
            return GgmlSimd.ReduceAdd(acc);
        }
    }

    /// <summary><c>ggml_vec_dot_f16</c> (F16 rows, F16 activations, F32 products, double tail).</summary>
    public static float VecDotF16(ReadOnlySpan<ushort> x, ReadOnlySpan<ushort> y)
    {
        int n = x.Length, i = 0;
        ref ushort xr = ref MemoryMarshal.GetReference(x);
        ref ushort yr = ref MemoryMarshal.GetReference(y);
        double sum = 0;
        if (Width == 16)
        {
            Vector512<float> a0 = Vector512<float>.Zero, a1 = a0, a2 = a0, a3 = a0;
            Vector512<uint> exp = Vector512<uint>.Zero;
            for (; i + 64 <= n; i += 64)
            {
                a0 = Vector512.FusedMultiplyAdd(Half16(ref xr, i, ref exp), Half16(ref yr, i, ref exp), a0);
                a1 = Vector512.FusedMultiplyAdd(Half16(ref xr, i + 16, ref exp), Half16(ref yr, i + 16, ref exp), a1);
                a2 = Vector512.FusedMultiplyAdd(Half16(ref xr, i + 32, ref exp), Half16(ref yr, i + 32, ref exp), a2);
                a3 = Vector512.FusedMultiplyAdd(Half16(ref xr, i + 48, ref exp), Half16(ref yr, i + 48, ref exp), a3);
            }
            if (Vector512.GreaterThanOrEqualAny(exp, Vector512.Create(0x7C00u))) return PlainF16(x, y);
            sum = GgmlSimd.ReduceAdd((a0 + a2) + (a1 + a3));
        }
        else if (Width == 8)
        {
            Vector256<float> a0 = Vector256<float>.Zero, a1 = a0, a2 = a0, a3 = a0;
            Vector256<uint> exp = Vector256<uint>.Zero;
            for (; i + 32 <= n; i += 32)
            {
                a0 = Vector256.FusedMultiplyAdd(Half8(ref xr, i, ref exp), Half8(ref yr, i, ref exp), a0);
                a1 = Vector256.FusedMultiplyAdd(Half8(ref xr, i + 8, ref exp), Half8(ref yr, i + 8, ref exp), a1);
                a2 = Vector256.FusedMultiplyAdd(Half8(ref xr, i + 16, ref exp), Half8(ref yr, i + 16, ref exp), a2);
                a3 = Vector256.FusedMultiplyAdd(Half8(ref xr, i + 24, ref exp), Half8(ref yr, i + 24, ref exp), a3);
            }
            if (Vector256.GreaterThanOrEqualAny(exp, Vector256.Create(0x7C00u))) return PlainF16(x, y);
            sum = GgmlSimd.ReduceAddHadd((a0 + a2) + (a1 + a3));
        }
        for (; i < n; i++)
            sum += FloatConversions.HalfToSingle(x[i]) * FloatConversions.HalfToSingle(y[i]);
        return (float)sum;
    }

    /// <summary>
    /// <c>ggml_vec_dot_bf16</c> (BF16 rows, BF16 activations, F32 products, double sum). Its SIMD part differs
    /// per build more than the F32/F16 dots do (read from LLamaSharp's builds; GCC contracts each mul+add to an
    /// FMA): the avx512 build (AVX-512 F, no BF16 extension) keeps two 16-lane accumulators over steps of 32,
    /// reduces each and adds them in double one after the other; the avx2 build keeps four 8-lane accumulators
    /// over steps of 32, sums them (0+2)+(1+3) and reduces with movehl/movehdup. The elements after the last
    /// step are added one by one in double. Widening BF16 is exact (inf/NaN included), so no fallback is needed.
    /// <para>
    /// For speed the loop widens with the pair trick (a 32-bit lane holds elements 2k and 2k+1: "lane &lt;&lt; 16"
    /// is the even one, "lane &amp; 0xFFFF0000" the odd one), so it keeps even-element and odd-element
    /// accumulators instead of ggml's contiguous ones. Every lane still sees the same products in the same
    /// order; interleaving even and odd lanes afterwards rebuilds ggml's accumulators exactly.
    /// </para>
    /// </summary>
    public static float VecDotBF16(ReadOnlySpan<ushort> x, ReadOnlySpan<ushort> y)
    {
        int n = x.Length, i = 0;
        ref ushort xr = ref MemoryMarshal.GetReference(x);
        ref ushort yr = ref MemoryMarshal.GetReference(y);
        double sum = 0;
        if (Width == 16)
        {
            // even/odd lane k: element 2k / 2k+1 of each step of 32; ggml's c1 holds elements 0-15, c2 16-31.
            Vector512<uint> high = Vector512.Create(0xFFFF0000u);
            Vector512<float> even = Vector512<float>.Zero, odd = even;
            for (; i + 32 <= n; i += 32)
            {
                Vector512<uint> xv = Vector512.LoadUnsafe(ref xr, (nuint)i).AsUInt32();
                Vector512<uint> yv = Vector512.LoadUnsafe(ref yr, (nuint)i).AsUInt32();
                even = Vector512.FusedMultiplyAdd((xv << 16).AsSingle(), (yv << 16).AsSingle(), even);
                odd = Vector512.FusedMultiplyAdd((xv & high).AsSingle(), (yv & high).AsSingle(), odd);
            }
            Vector512<int> interleave = Vector512.Create(0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15);
            sum += GgmlSimd.ReduceAdd(Vector512.Shuffle(Vector512.Create(even.GetLower(), odd.GetLower()), interleave));
            sum += GgmlSimd.ReduceAdd(Vector512.Shuffle(Vector512.Create(even.GetUpper(), odd.GetUpper()), interleave));
        }
        else if (Width == 8)
        {
            // evenA/oddA lane k: element 2k / 2k+1 of the step's first 16 (ggml's c1 holds 0-7, c2 8-15),
            // evenB/oddB the same for its last 16 (c3, c4).
            Vector256<uint> high = Vector256.Create(0xFFFF0000u);
            Vector256<float> evenA = Vector256<float>.Zero, oddA = evenA, evenB = evenA, oddB = evenA;
            for (; i + 32 <= n; i += 32)
            {
                Vector256<uint> xa = Vector256.LoadUnsafe(ref xr, (nuint)i).AsUInt32();
                Vector256<uint> ya = Vector256.LoadUnsafe(ref yr, (nuint)i).AsUInt32();
                Vector256<uint> xb = Vector256.LoadUnsafe(ref xr, (nuint)i + 16).AsUInt32();
                Vector256<uint> yb = Vector256.LoadUnsafe(ref yr, (nuint)i + 16).AsUInt32();
                evenA = Vector256.FusedMultiplyAdd((xa << 16).AsSingle(), (ya << 16).AsSingle(), evenA);
                oddA = Vector256.FusedMultiplyAdd((xa & high).AsSingle(), (ya & high).AsSingle(), oddA);
                evenB = Vector256.FusedMultiplyAdd((xb << 16).AsSingle(), (yb << 16).AsSingle(), evenB);
                oddB = Vector256.FusedMultiplyAdd((xb & high).AsSingle(), (yb & high).AsSingle(), oddB);
            }
            Vector256<int> interleave = Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7);
            Vector256<float> c1 = Vector256.Shuffle(Vector256.Create(evenA.GetLower(), oddA.GetLower()), interleave);
            Vector256<float> c2 = Vector256.Shuffle(Vector256.Create(evenA.GetUpper(), oddA.GetUpper()), interleave);
            Vector256<float> c3 = Vector256.Shuffle(Vector256.Create(evenB.GetLower(), oddB.GetLower()), interleave);
            Vector256<float> c4 = Vector256.Shuffle(Vector256.Create(evenB.GetUpper(), oddB.GetUpper()), interleave);
            sum += GgmlSimd.ReduceAdd((c1 + c3) + (c2 + c4));
        }
        for (; i < n; i++)
            sum += FloatConversions.BFloat16ToSingle(x[i]) * FloatConversions.BFloat16ToSingle(y[i]);
        return (float)sum;
    }

    /// <summary>
    /// <see cref="VecDotF16"/> of one row <paramref name="x"/> with four rows at once, widening <paramref name="x"/>
    /// once for all four. Each result is bit-identical to <c>VecDotF16(x, yk)</c>: per pair the same FMAs into
    /// its own four accumulators, the same reduction, the same double tail, and the same inf/NaN fallback.
    /// Only the 16-lane form is interleaved; other widths make four single calls.
    /// </summary>
    public static void VecDotF16x4(ReadOnlySpan<ushort> x, ReadOnlySpan<ushort> y0, ReadOnlySpan<ushort> y1,
        ReadOnlySpan<ushort> y2, ReadOnlySpan<ushort> y3, Span<float> results)
    {
        int n = x.Length;
        if (Width != 16 || y0.Length < n || y1.Length < n || y2.Length < n || y3.Length < n)
        {
            results[0] = VecDotF16(x, y0); results[1] = VecDotF16(x, y1);
            results[2] = VecDotF16(x, y2); results[3] = VecDotF16(x, y3);
            return;
        }
        ref ushort xr = ref MemoryMarshal.GetReference(x);
        ref ushort r0 = ref MemoryMarshal.GetReference(y0);
        ref ushort r1 = ref MemoryMarshal.GetReference(y1);
        ref ushort r2 = ref MemoryMarshal.GetReference(y2);
        ref ushort r3 = ref MemoryMarshal.GetReference(y3);
        Vector512<float> a00 = Vector512<float>.Zero, a01 = a00, a02 = a00, a03 = a00;
        Vector512<float> a10 = a00, a11 = a00, a12 = a00, a13 = a00;
        Vector512<float> a20 = a00, a21 = a00, a22 = a00, a23 = a00;
        Vector512<float> a30 = a00, a31 = a00, a32 = a00, a33 = a00;
        Vector512<uint> ex = Vector512<uint>.Zero, e0 = ex, e1 = ex, e2 = ex, e3 = ex;
        int i = 0;
        for (; i + 64 <= n; i += 64)
        {
            Vector512<float> w0 = Half16(ref xr, i, ref ex), w1 = Half16(ref xr, i + 16, ref ex);
            Vector512<float> w2 = Half16(ref xr, i + 32, ref ex), w3 = Half16(ref xr, i + 48, ref ex);
            a00 = Vector512.FusedMultiplyAdd(w0, Half16(ref r0, i, ref e0), a00);
            a01 = Vector512.FusedMultiplyAdd(w1, Half16(ref r0, i + 16, ref e0), a01);
            a02 = Vector512.FusedMultiplyAdd(w2, Half16(ref r0, i + 32, ref e0), a02);
            a03 = Vector512.FusedMultiplyAdd(w3, Half16(ref r0, i + 48, ref e0), a03);
            a10 = Vector512.FusedMultiplyAdd(w0, Half16(ref r1, i, ref e1), a10);
            a11 = Vector512.FusedMultiplyAdd(w1, Half16(ref r1, i + 16, ref e1), a11);
            a12 = Vector512.FusedMultiplyAdd(w2, Half16(ref r1, i + 32, ref e1), a12);
            a13 = Vector512.FusedMultiplyAdd(w3, Half16(ref r1, i + 48, ref e1), a13);
            a20 = Vector512.FusedMultiplyAdd(w0, Half16(ref r2, i, ref e2), a20);
            a21 = Vector512.FusedMultiplyAdd(w1, Half16(ref r2, i + 16, ref e2), a21);
            a22 = Vector512.FusedMultiplyAdd(w2, Half16(ref r2, i + 32, ref e2), a22);
            a23 = Vector512.FusedMultiplyAdd(w3, Half16(ref r2, i + 48, ref e2), a23);
            a30 = Vector512.FusedMultiplyAdd(w0, Half16(ref r3, i, ref e3), a30);
            a31 = Vector512.FusedMultiplyAdd(w1, Half16(ref r3, i + 16, ref e3), a31);
            a32 = Vector512.FusedMultiplyAdd(w2, Half16(ref r3, i + 32, ref e3), a32);
            a33 = Vector512.FusedMultiplyAdd(w3, Half16(ref r3, i + 48, ref e3), a33);
        }
        results[0] = FinishF16(x, y0, i, ex, e0, (a00 + a02) + (a01 + a03));
        results[1] = FinishF16(x, y1, i, ex, e1, (a10 + a12) + (a11 + a13));
        results[2] = FinishF16(x, y2, i, ex, e2, (a20 + a22) + (a21 + a23));
        results[3] = FinishF16(x, y3, i, ex, e3, (a30 + a32) + (a31 + a33));
    }

    /// <summary>The end of <see cref="VecDotF16"/>'s 16-lane path for one pair: inf/NaN fallback, reduction, double tail.</summary>
    private static float FinishF16(ReadOnlySpan<ushort> x, ReadOnlySpan<ushort> y, int i,
        Vector512<uint> expX, Vector512<uint> expY, Vector512<float> acc)
    {
        if (Vector512.GreaterThanOrEqualAny(Vector512.Max(expX, expY), Vector512.Create(0x7C00u))) return PlainF16(x, y);
        double sum = GgmlSimd.ReduceAdd(acc);
        for (; i < x.Length; i++)
            sum += FloatConversions.HalfToSingle(x[i]) * FloatConversions.HalfToSingle(y[i]);
        return (float)sum;
    }

    /// <summary>
    /// The end of <see cref="VecDotF16"/> for a pair whose activations were widened in advance
    /// (<see cref="F16ActivationPanel"/>): with <paramref name="special"/> (an F16 inf/NaN in either row's vector
    /// part) the plain sum of <see cref="PlainF16"/>, else the reduced vector sum plus the double tail from
    /// element <paramref name="i"/>. <paramref name="y"/> holds exactly <see cref="FloatConversions.HalfToSingle"/>
    /// of the F16 activations, so every product is the one <see cref="VecDotF16"/> forms.
    /// </summary>
    internal static unsafe float FinishWidened(ushort* x, float* y, int n, int i, bool special, float vectorSum)
    {
        double sum = 0;
        if (special) i = 0;
        else sum = vectorSum;
        for (; i < n; i++)
            sum += FloatConversions.HalfToSingle(x[i]) * y[i];
        return (float)sum;
    }

    /// <summary>tinyBLAS's F16 dot for one output (both operands widened to F32, one FMA accumulator, hsum).</summary>
    public static float TinyBlasF16(ReadOnlySpan<ushort> x, ReadOnlySpan<ushort> y)
    {
        int n = x.Length;
        ref ushort xr = ref MemoryMarshal.GetReference(x);
        ref ushort yr = ref MemoryMarshal.GetReference(y);
        if (Width == 16)
        {
            var acc = Vector512<float>.Zero;
            var exp = Vector512<uint>.Zero;
            for (int i = 0; i < n; i += 16)
                acc = Vector512.FusedMultiplyAdd(Half16(ref xr, i, ref exp), Half16(ref yr, i, ref exp), acc);
            return Vector512.GreaterThanOrEqualAny(exp, Vector512.Create(0x7C00u)) ? PlainF16(x, y) : GgmlSimd.ReduceAdd(acc);
        }
        else
        {
            var acc = Vector256<float>.Zero;
            var exp = Vector256<uint>.Zero;
            for (int i = 0; i < n; i += 8)
                acc = Vector256.FusedMultiplyAdd(Half8(ref xr, i, ref exp), Half8(ref yr, i, ref exp), acc);
            return Vector256.GreaterThanOrEqualAny(exp, Vector256.Create(0x7C00u)) ? PlainF16(x, y) : GgmlSimd.ReduceAdd(acc);
        }
    }

    /// <summary>
    /// 16 consecutive F16 values widened exactly (finite values); folds their magnitude bits into
    /// <paramref name="maxMagnitude"/> so the caller can tell whether any was inf/NaN (≥ 0x7C00).
    /// .NET exposes no F16C conversion, so this is the shortest exact bit route: zero-extend (vpmovzxwd),
    /// move sign and exponent/mantissa into float position, rescale by 2^112. Keeping it to eight
    /// operations per 16 values made F16 decode 2–3× faster than the first version (widen, re-pack,
    /// per-vector exponent compare).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> Half16(ref ushort p, int i, ref Vector512<uint> maxMagnitude)
    {
        Vector512<uint> h = Avx512F.IsSupported
            ? Avx512F.ConvertToVector512UInt32(Vector256.LoadUnsafe(ref p, (nuint)i))
            : Vector512.WidenLower(Vector512.Create(Vector256.LoadUnsafe(ref p, (nuint)i), Vector256<ushort>.Zero));
        Vector512<uint> em = h & Vector512.Create(0x7FFFu);
        maxMagnitude = Vector512.Max(maxMagnitude, em);
        Vector512<uint> bits = (em << 13) | ((h << 16) & Vector512.Create(0x80000000u));
        return bits.AsSingle() * Vector512.Create(FloatConversions.TwoPow112);
    }

    /// <inheritdoc cref="Half16"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> Half8(ref ushort p, int i, ref Vector256<uint> maxMagnitude)
    {
        Vector256<uint> h = Avx2.IsSupported
            ? Avx2.ConvertToVector256Int32(Vector128.LoadUnsafe(ref p, (nuint)i)).AsUInt32()
            : Vector256.WidenLower(Vector256.Create(Vector128.LoadUnsafe(ref p, (nuint)i), Vector128<ushort>.Zero));
        Vector256<uint> em = h & Vector256.Create(0x7FFFu);
        maxMagnitude = Vector256.Max(maxMagnitude, em);
        Vector256<uint> bits = (em << 13) | ((h << 16) & Vector256.Create(0x80000000u));
        return bits.AsSingle() * Vector256.Create(FloatConversions.TwoPow112);
    }

    /// <summary>How the shared kernels load 16 or 8 consecutive elements of one type as F32 lanes (exactly).</summary>
    private interface IFloatLanes<T> where T : unmanaged
    {
        static abstract Vector512<float> Load16(ref T p, int i);
        static abstract Vector256<float> Load8(ref T p, int i);
    }

    private readonly struct F32Lanes : IFloatLanes<float>
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Load16(ref float p, int i) => Vector512.LoadUnsafe(ref p, (nuint)i);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Load8(ref float p, int i) => Vector256.LoadUnsafe(ref p, (nuint)i);
    }

    /// <summary>
    /// BF16 is the upper half of an F32: zero-extend to 32 bits (vpmovzxwd, as ggml's loads; the portable
    /// widening is several times slower) and shift into place. Exact for every value, inf/NaN included.
    /// </summary>
    private readonly struct BF16Lanes : IFloatLanes<ushort>
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Load16(ref ushort p, int i)
        {
            Vector512<uint> h = Avx512F.IsSupported
                ? Avx512F.ConvertToVector512UInt32(Vector256.LoadUnsafe(ref p, (nuint)i))
                : Vector512.WidenLower(Vector512.Create(Vector256.LoadUnsafe(ref p, (nuint)i), Vector256<ushort>.Zero));
            return (h << 16).AsSingle();
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Load8(ref ushort p, int i)
        {
            Vector256<uint> h = Avx2.IsSupported
                ? Avx2.ConvertToVector256Int32(Vector128.LoadUnsafe(ref p, (nuint)i)).AsUInt32()
                : Vector256.WidenLower(Vector256.Create(Vector128.LoadUnsafe(ref p, (nuint)i), Vector128<ushort>.Zero));
            return (h << 16).AsSingle();
        }
    }

    /// <summary>Rows with an F16 inf/NaN: IEEE products summed in order (the result is inf/NaN in any order).</summary>
    private static float PlainF16(ReadOnlySpan<ushort> x, ReadOnlySpan<ushort> y)
    {
        double sum = 0;
        for (int i = 0; i < x.Length; i++)
            sum += FloatConversions.HalfToSingle(x[i]) * FloatConversions.HalfToSingle(y[i]);
        return (float)sum;
    }
}
