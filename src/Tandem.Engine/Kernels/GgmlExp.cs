using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Tandem.Engine.Kernels;

/// <summary>
/// e^x exactly as ggml-cpu computes it in SiLU/SwiGLU and softmax (<c>ggml_v_expf</c> in vec.h, a polynomial
/// after ARM's optimized-routines expf, max error ~1.5 ulp), so that our activations match llama.cpp bit for
/// bit. ggml has one variant per SIMD level and they round differently; llama.cpp's CPU build is picked by the
/// CPU's features (LLamaSharp ships avx512 / avx2 / avx / noavx builds), so we pick the variant the same way:
/// AVX-512 F+DQ → the AVX-512 variant (final scaling with <c>vscalefps</c>), AVX2+FMA → the AVX2 variant
/// (scaling by building 2^n from bits, <c>k + k·j</c>). Elements after the last whole vector go through the C
/// library's <c>expf</c> in ggml, which is what <see cref="MathF.Exp"/> calls.
/// </summary>
public static class GgmlExp
{
    private static int Width => GgmlSimd.Width;

    // ggml's constants, written there as hex floats (0x1.8p23f, 0x1.715476p+0f, ...); here by their bits.
    private static readonly float Shift = BitConverter.UInt32BitsToSingle(0x4B400000); // 0x1.8p23: rounds to an integer
    private static readonly float Log2E = BitConverter.UInt32BitsToSingle(0x3FB8AA3B);
    private static readonly float Ln2Hi = BitConverter.UInt32BitsToSingle(0x3F317200);
    private static readonly float Ln2Lo = BitConverter.UInt32BitsToSingle(0x35BFBE8E);
    private static readonly float C1 = BitConverter.UInt32BitsToSingle(0x3F7FFFF6);
    private static readonly float C2 = BitConverter.UInt32BitsToSingle(0x3EFFFEDB);
    private static readonly float C3 = BitConverter.UInt32BitsToSingle(0x3E2AAF33);
    private static readonly float C4 = BitConverter.UInt32BitsToSingle(0x3D2B9F17);
    private static readonly float C5 = BitConverter.UInt32BitsToSingle(0x3C072010);

    /// <summary>ggml's AVX-512 <c>ggml_v_expf</c>, lane by lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Exp(Vector512<float> x)
    {
        var r = Vector512.Create(Shift);
        var z = Vector512.FusedMultiplyAdd(x, Vector512.Create(Log2E), r);
        var n = z - r;
        // fnmadd(a, b, c) = c - a·b with one rounding.
        var b = Vector512.FusedMultiplyAdd(-n, Vector512.Create(Ln2Lo), Vector512.FusedMultiplyAdd(-n, Vector512.Create(Ln2Hi), x));
        var u = b * b;
        var j = Vector512.FusedMultiplyAdd(
            Vector512.FusedMultiplyAdd(Vector512.FusedMultiplyAdd(Vector512.Create(C5), b, Vector512.Create(C4)), u,
                Vector512.FusedMultiplyAdd(Vector512.Create(C3), b, Vector512.Create(C2))),
            u,
            Vector512.FusedMultiplyAdd(Vector512.Create(C1), b, Vector512<float>.One));
        var res = Avx512F.Scale(j, n);
        var big = Vector512.GreaterThan(Vector512.Abs(n), Vector512.Create(192f));
        if (big == Vector512<float>.Zero)
            return res;
        var alt = Vector512.ConditionalSelect(Vector512.LessThanOrEqual(n, Vector512<float>.Zero), Vector512<float>.Zero,
            Vector512.Create(float.PositiveInfinity));
        return Vector512.ConditionalSelect(big, alt, res);
    }

    /// <summary>ggml's AVX2 <c>ggml_v_expf</c>, lane by lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exp(Vector256<float> x)
    {
        var r = Vector256.Create(Shift);
        var z = Vector256.FusedMultiplyAdd(x, Vector256.Create(Log2E), r);
        var n = z - r;
        var b = Vector256.FusedMultiplyAdd(-n, Vector256.Create(Ln2Lo), Vector256.FusedMultiplyAdd(-n, Vector256.Create(Ln2Hi), x));
        var e = z.AsUInt32() << 23;
        var k = (e + Vector256.Create(1f).AsUInt32()).AsSingle();
        var absN = Vector256.Abs(n);
        var c = Vector256.GreaterThan(absN, Vector256.Create(126f));
        var u = b * b;
        var j = Vector256.FusedMultiplyAdd(
            Vector256.FusedMultiplyAdd(Vector256.FusedMultiplyAdd(Vector256.Create(C5), b, Vector256.Create(C4)), u,
                Vector256.FusedMultiplyAdd(Vector256.Create(C3), b, Vector256.Create(C2))),
            u,
            Vector256.Create(C1) * b);
        var normal = Vector256.FusedMultiplyAdd(k, j, k);
        if (c == Vector256<float>.Zero)
            return normal;
        var g = Vector256.LessThanOrEqual(n, Vector256<float>.Zero).AsUInt32() & Vector256.Create(0x82000000u);
        var s1 = (g + Vector256.Create(0x7f000000u)).AsSingle();
        var s2 = (e - g).AsSingle();
        var d = Vector256.GreaterThan(absN, Vector256.Create(192f));
        var scaled = Vector256.FusedMultiplyAdd(s2, j, s2) * s1;
        return Vector256.ConditionalSelect(d, s1 * s1, Vector256.ConditionalSelect(c, scaled, normal));
    }

    /// <summary>
    /// y = x · sigmoid(x) · g element-wise (SwiGLU; SiLU when <paramref name="g"/> is empty), as
    /// <c>ggml_vec_swiglu_f32</c>/<c>ggml_vec_silu_f32</c>: x / (1 + exp(0 - x)) per vector, libm expf for the tail.
    /// <paramref name="y"/> may be <paramref name="x"/>.
    /// </summary>
    public static void SwiGlu(ReadOnlySpan<float> x, ReadOnlySpan<float> g, Span<float> y)
    {
        int n = x.Length, i = 0;
        bool gated = !g.IsEmpty;
        if (y.Length < n || (gated && g.Length < n)) throw new ArgumentException("spans shorter than x");
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float gr = ref MemoryMarshal.GetReference(g);
        ref float yr = ref MemoryMarshal.GetReference(y);
        if (Width == 16)
        {
            for (; i + 16 <= n; i += 16)
            {
                var v = Vector512.LoadUnsafe(ref xr, (nuint)i);
                var s = v / (Vector512<float>.One + Exp(Vector512<float>.Zero - v));
                if (gated) s *= Vector512.LoadUnsafe(ref gr, (nuint)i);
                s.StoreUnsafe(ref yr, (nuint)i);
            }
        }
        else if (Width == 8)
        {
            for (; i + 8 <= n; i += 8)
            {
                var v = Vector256.LoadUnsafe(ref xr, (nuint)i);
                var s = v / (Vector256<float>.One + Exp(Vector256<float>.Zero - v));
                if (gated) s *= Vector256.LoadUnsafe(ref gr, (nuint)i);
                s.StoreUnsafe(ref yr, (nuint)i);
            }
        }
        for (; i < n; i++)
        {
            float s = x[i] / (1.0f + MathF.Exp(-x[i]));
            y[i] = gated ? s * g[i] : s;
        }
    }

    /// <summary>
    /// y = exp(x - max) element-wise and the sum of y, as <c>ggml_vec_soft_max_f32</c>: each vector's values are
    /// added in float (<see cref="GgmlSimd.ReduceAdd(Vector512{float})"/>) and those partial sums in double.
    /// In ggml the elements after the last whole vector go through libm expf and are added one by one; with
    /// <paramref name="padTail"/> they are instead computed as one more vector padded with -inf (exp = 0), which
    /// is what ggml does for attention rows, whose length (the KV cells in view) is padded to 256 with masked cells.
    /// </summary>
    public static double ExpSubtractSum(ReadOnlySpan<float> x, float max, Span<float> y, bool padTail = false)
    {
        int n = x.Length, i = 0;
        if (y.Length < n) throw new ArgumentException("y shorter than x");
        double sum = 0;
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float yr = ref MemoryMarshal.GetReference(y);
        if (Width == 16)
        {
            var m = Vector512.Create(max);
            for (; i + 16 <= n; i += 16)
            {
                var v = Exp(Vector512.LoadUnsafe(ref xr, (nuint)i) - m);
                v.StoreUnsafe(ref yr, (nuint)i);
                sum += GgmlSimd.ReduceAdd(v);
            }
            if (padTail && i < n)
            {
                Span<float> t = stackalloc float[16];
                t.Fill(float.NegativeInfinity);
                x[i..].CopyTo(t);
                var v = Exp(Vector512.Create((ReadOnlySpan<float>)t) - m);
                v.CopyTo(t);
                t[..(n - i)].CopyTo(y[i..]);
                sum += GgmlSimd.ReduceAdd(v);
                i = n;
            }
        }
        else if (Width == 8)
        {
            var m = Vector256.Create(max);
            for (; i + 8 <= n; i += 8)
            {
                var v = Exp(Vector256.LoadUnsafe(ref xr, (nuint)i) - m);
                v.StoreUnsafe(ref yr, (nuint)i);
                sum += GgmlSimd.ReduceAdd(v);
            }
            if (padTail && i < n)
            {
                Span<float> t = stackalloc float[8];
                t.Fill(float.NegativeInfinity);
                x[i..].CopyTo(t);
                var v = Exp(Vector256.Create((ReadOnlySpan<float>)t) - m);
                v.CopyTo(t);
                t[..(n - i)].CopyTo(y[i..]);
                sum += GgmlSimd.ReduceAdd(v);
                i = n;
            }
        }
        for (; i < n; i++)
        {
            float v = MathF.Exp(x[i] - max);
            sum += v;
            y[i] = v;
        }
        return sum;
    }
}
