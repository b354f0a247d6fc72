using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using static Tandem.Engine.Quantization.KQuantBlocks;

namespace Tandem.Engine.Quantization;

/// <summary>
/// The Q4_K/Q5_K/Q6_K × Q8_K dots of <see cref="KQuantGenericDot"/> with cross-platform <see cref="Vector128"/>
/// operations, for machines without AVX2 (Arm64 NEON, old x64), bit-identical to the generic kernel: a super-block's
/// quants are unpacked sixteen at a time instead of one by one (once for up to four tokens), and its eight int32
/// lanes (lane l sums the products of elements ≡ l mod 8) come out as the same integers because integer sums do not
/// depend on their order (16-bit products of at most 32·128, at most four added in 16 bits before widening). The float
/// part is the generic kernel's own: <c>sums[l] += d * aux32[l]</c> per lane (a multiply, then an add, no FMA), the
/// mins term in scalar, and the eight lanes added one by one at the end.
/// </summary>
internal static unsafe class KQuantPortableDot
{
    /// <summary>Whether the vector path runs here (else the generic kernel is as fast as emulated vectors).</summary>
    public static bool IsSupported => Vector128.IsHardwareAccelerated;

    private enum Kind { Q4K, Q5K, Q6K }

    public static float Q4K(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n) => One(Kind.Q4K, weights, activations, n);

    public static float Q5K(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n) => One(Kind.Q5K, weights, activations, n);

    public static float Q6K(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n) => One(Kind.Q6K, weights, activations, n);

    /// <summary>Four activation rows against one Q4_K row, each result that of <see cref="Q4K"/>.</summary>
    public static void Q4K4(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> a0, ReadOnlySpan<byte> a1,
        ReadOnlySpan<byte> a2, ReadOnlySpan<byte> a3, int n, Span<float> results) => Four(Kind.Q4K, weights, a0, a1, a2, a3, n, results);

    /// <summary>Four activation rows against one Q6_K row, each result that of <see cref="Q6K"/>.</summary>
    public static void Q6K4(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> a0, ReadOnlySpan<byte> a1,
        ReadOnlySpan<byte> a2, ReadOnlySpan<byte> a3, int n, Span<float> results) => Four(Kind.Q6K, weights, a0, a1, a2, a3, n, results);

    private static int BlockBytes(Kind kind) => kind switch { Kind.Q4K => Q4KBytes, Kind.Q5K => Q5KBytes, _ => Q6KBytes };

    private static float One(Kind kind, ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n)
    {
        int nb = BlockCount(n);
        if (weights.Length < (long)nb * BlockBytes(kind) || activations.Length < (long)nb * Q8KBytes)
            throw new ArgumentException("row spans are shorter than n elements");
        float result;
        fixed (byte* w = weights)
        fixed (byte* a = activations)
        {
            byte* row = a;
            Run(kind, w, &row, 1, nb, &result);
        }
        return result;
    }

    private static void Four(Kind kind, ReadOnlySpan<byte> weights, ReadOnlySpan<byte> a0, ReadOnlySpan<byte> a1,
        ReadOnlySpan<byte> a2, ReadOnlySpan<byte> a3, int n, Span<float> results)
    {
        int nb = BlockCount(n);
        int shortest = Math.Min(Math.Min(a0.Length, a1.Length), Math.Min(a2.Length, a3.Length));
        if (weights.Length < (long)nb * BlockBytes(kind) || shortest < (long)nb * Q8KBytes)
            throw new ArgumentException("row spans are shorter than n elements");
        if (results.Length < 4) throw new ArgumentException("results must hold four values", nameof(results));
        fixed (byte* w = weights)
        fixed (byte* y0 = a0)
        fixed (byte* y1 = a1)
        fixed (byte* y2 = a2)
        fixed (byte* y3 = a3)
        fixed (float* r = results)
        {
            byte** rows = stackalloc byte*[4];
            rows[0] = y0; rows[1] = y1; rows[2] = y2; rows[3] = y3;
            Run(kind, w, rows, 4, nb, r);
        }
    }

    /// <summary>
    /// The dots of one weight row with <paramref name="tokens"/> (1..4) Q8_K rows: each super-block is unpacked once
    /// into 256 signed quants and its sub-block scales (and mins), then dotted with every token's block.
    /// </summary>
    [SkipLocalsInit]
    private static void Run(Kind kind, byte* w, byte** activations, int tokens, int nb, float* results)
    {
        sbyte* quants = stackalloc sbyte[QK];
        int* scales = stackalloc int[16];
        int* mins = stackalloc int[8];
        Vector128<float>* sums = stackalloc Vector128<float>[8];
        float* sumf = stackalloc float[4];
        for (int t = 0; t < tokens; t++) { sums[2 * t] = sums[2 * t + 1] = Vector128<float>.Zero; sumf[t] = 0; }
        // Sub-blocks of 32 quants with a scale and a min (Q4_K, Q5_K), or of 16 with a signed scale (Q6_K).
        int subBlocks = kind == Kind.Q6K ? 16 : 8, subBlock = QK / subBlocks, blockBytes = BlockBytes(kind);
        for (int i = 0; i < nb; i++)
        {
            byte* x = w + (long)i * blockBytes;
            float dw;
            if (kind == Kind.Q6K)
            {
                UnpackQ6K(x, quants);
                for (int j = 0; j < 16; j++) scales[j] = ((sbyte*)(x + 192))[j];
                dw = HalfToFloat(Unsafe.ReadUnaligned<ushort>(x + 208));
            }
            else
            {
                UnpackQ4KOrQ5K(x, kind == Kind.Q5K, quants);
                var packed = new ReadOnlySpan<byte>(x + 4, 12);
                for (int j = 0; j < 8; j++)
                {
                    KQuantScales.GetScaleMin(j, packed, out byte scale, out byte min);
                    scales[j] = scale;
                    mins[j] = min;
                }
                dw = HalfToFloat(Unsafe.ReadUnaligned<ushort>(x));
            }
            for (int t = 0; t < tokens; t++)
            {
                byte* y = activations[t] + (long)i * Q8KBytes;
                sbyte* q8 = (sbyte*)(y + Q8KQsOffset);
                float yd = Unsafe.ReadUnaligned<float>(y);
                Vector128<int> accLo = Vector128<int>.Zero, accHi = Vector128<int>.Zero;
                for (int j = 0; j < subBlocks; j++)
                {
                    int at = j * subBlock;
                    Vector128<short> groups = GroupSums(Vector128.Load(quants + at), Vector128.Load(q8 + at));
                    if (subBlock == 32) groups += GroupSums(Vector128.Load(quants + at + 16), Vector128.Load(q8 + at + 16));
                    var (gLo, gHi) = Vector128.Widen(groups);
                    Vector128<int> s = Vector128.Create(scales[j]);
                    accLo += gLo * s;
                    accHi += gHi * s;
                }
                float d = dw * yd;
                sums[2 * t] += Vector128.Create(d) * Vector128.ConvertToSingle(accLo);
                sums[2 * t + 1] += Vector128.Create(d) * Vector128.ConvertToSingle(accHi);
                if (kind != Kind.Q6K)
                {
                    short* bsums = (short*)(y + Q8KBsumsOffset);
                    int sumi = 0;
                    for (int j = 0; j < 8; j++) sumi += (bsums[2 * j] + bsums[2 * j + 1]) * mins[j];
                    float dmin = HalfToFloat(Unsafe.ReadUnaligned<ushort>(x + 2)) * yd;
                    sumf[t] -= dmin * sumi;
                }
            }
        }
        for (int t = 0; t < tokens; t++)
        {
            float s = sumf[t];
            for (int l = 0; l < 4; l++) s += sums[2 * t].GetElement(l);
            for (int l = 0; l < 4; l++) s += sums[2 * t + 1].GetElement(l);
            results[t] = s;
        }
    }

    /// <summary>
    /// Q4_K/Q5_K quants 0..255 of a super-block: sub-block j is the low (j even) or high (j odd) nibbles of quant bytes
    /// 32(j/2) .. +31, with Q5_K's bit j of the 32 high-bit bytes as the fifth bit.
    /// </summary>
    private static void UnpackQ4KOrQ5K(byte* x, bool fiveBit, sbyte* quants)
    {
        Vector128<byte> low4 = Vector128.Create((byte)0xF), one = Vector128.Create((byte)1);
        byte* qs = x + (fiveBit ? 48 : 16);
        for (int j = 0; j < 8; j++)
        {
            byte* q4 = qs + 32 * (j >> 1);
            Vector128<byte> b0 = Vector128.Load(q4), b1 = Vector128.Load(q4 + 16);
            if ((j & 1) == 0) { b0 &= low4; b1 &= low4; }
            else { b0 = Vector128.ShiftRightLogical(b0, 4); b1 = Vector128.ShiftRightLogical(b1, 4); }
            if (fiveBit)
            {
                b0 |= Vector128.ShiftLeft(Vector128.ShiftRightLogical(Vector128.Load(x + 16), j) & one, 4);
                b1 |= Vector128.ShiftLeft(Vector128.ShiftRightLogical(Vector128.Load(x + 32), j) & one, 4);
            }
            Vector128.Store(b0.AsSByte(), quants + 32 * j);
            Vector128.Store(b1.AsSByte(), quants + 32 * j + 16);
        }
    }

    /// <summary>
    /// Q6_K quants 0..255 of a super-block, minus 32: in each half of 128, quarter q holds the low (q &lt; 2) or high
    /// nibbles of ql[32(q &amp; 1) ..] with bits 2q, 2q+1 of qh as bits 4 and 5.
    /// </summary>
    private static void UnpackQ6K(byte* x, sbyte* quants)
    {
        Vector128<byte> low4 = Vector128.Create((byte)0xF), three = Vector128.Create((byte)3);
        Vector128<sbyte> offset = Vector128.Create((sbyte)32);
        for (int half = 0; half < 2; half++)
        {
            byte* ql = x + 64 * half;
            byte* qh = x + 128 + 32 * half;
            for (int q = 0; q < 4; q++)
                for (int v = 0; v < 2; v++)
                {
                    Vector128<byte> lowBits = Vector128.Load(ql + 32 * (q & 1) + 16 * v);
                    lowBits = q < 2 ? lowBits & low4 : Vector128.ShiftRightLogical(lowBits, 4);
                    Vector128<byte> highBits = Vector128.ShiftRightLogical(Vector128.Load(qh + 16 * v), 2 * q) & three;
                    Vector128.Store((lowBits | Vector128.ShiftLeft(highBits, 4)).AsSByte() - offset, quants + 128 * half + 32 * q + 16 * v);
                }
        }
    }

    /// <summary>
    /// The products of sixteen quants with sixteen Q8 values, elements k and k + 8 added: lane l holds the two
    /// products of elements ≡ l mod 8 (each at most 32·128 in magnitude, so the 16-bit lanes cannot overflow).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<short> GroupSums(Vector128<sbyte> quants, Vector128<sbyte> q8)
    {
        var (qLo, qHi) = Vector128.Widen(quants);
        var (aLo, aHi) = Vector128.Widen(q8);
        return qLo * aLo + qHi * aHi;
    }
}
