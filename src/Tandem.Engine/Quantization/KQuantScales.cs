using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Tandem.Engine.Quantization;

/// <summary>
/// The 12-byte scale field of Q4_K/Q5_K: eight 6-bit scales and eight 6-bit mins, packed as ggml packs them.
/// </summary>
internal static class KQuantScales
{
    private const uint KMask1 = 0x3f3f3f3f;
    private const uint KMask2 = 0x0f0f0f0f;
    private const uint KMask3 = 0x03030303;

    /// <summary>ggml's get_scale_min_k4: scale and min of sub-block <paramref name="j"/> (0..7).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void GetScaleMin(int j, ReadOnlySpan<byte> q, out byte scale, out byte min)
    {
        if (j < 4)
        {
            scale = (byte)(q[j] & 63);
            min = (byte)(q[j + 4] & 63);
        }
        else
        {
            scale = (byte)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
            min = (byte)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
        }
    }

    /// <summary>
    /// Unpacks all sixteen values at once, as the dot kernels of ggml do (the utmp/kmask trick):
    /// the result holds scales[0..7] in its first 8 bytes and mins[0..7] in its last 8.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe (uint S0, uint S1, uint M0, uint M1) Unpack(byte* packed)
    {
        uint u0 = Unsafe.ReadUnaligned<uint>(packed);
        uint u1 = Unsafe.ReadUnaligned<uint>(packed + 4);
        uint u2 = Unsafe.ReadUnaligned<uint>(packed + 8);
        uint m1 = ((u2 >> 4) & KMask2) | (((u1 >> 6) & KMask3) << 4);
        uint m0 = u1 & KMask1;
        uint s1 = (u2 & KMask2) | (((u0 >> 6) & KMask3) << 4);
        uint s0 = u0 & KMask1;
        return (s0, s1, m0, m1);
    }

    /// <summary>
    /// <see cref="Unpack(byte*)"/> for a super-block header (its first 16 bytes: d, dmin, the 12 packed bytes) in each
    /// 128-bit lane, four rows at once: each lane comes back with scales[0..7] in bytes 0..7 and mins[0..7] in bytes
    /// 8..15, the scalar unpacking's bits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<uint> Unpack(Vector512<uint> headers)
    {
        // A lane's dwords are [d|dmin, u0, u1, u2]; the scalar results are, in order, s0 = u0 & m1,
        // s1 = (u2 & m2) | ((u0 >> 6) & m3) << 4, m0 = u1 & m1, m1 = ((u2 >> 4) & m2) | ((u1 >> 6) & m3) << 4.
        Vector512<uint> low = Avx512F.Shuffle(headers, 0xED); // u0 u2 u1 u2
        Vector512<uint> high = Avx512F.Shuffle(headers, 0xA5); // u0 u0 u1 u1
        low = Avx512F.ShiftRightLogicalVariable(low, Vector512.Create(Vector128.Create(0u, 0, 0, 4)))
            & Vector512.Create(Vector128.Create(KMask1, KMask2, KMask1, KMask2));
        high = ((high >> 6) & Vector512.Create(Vector128.Create(0u, KMask3, 0, KMask3))) << 4;
        return low | high;
    }

    /// <inheritdoc cref="Unpack(Vector512{uint})"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<uint> Unpack(Vector256<uint> headers)
    {
        Vector256<uint> low = Avx2.Shuffle(headers, 0xED);
        Vector256<uint> high = Avx2.Shuffle(headers, 0xA5);
        low = Avx2.ShiftRightLogicalVariable(low, Vector256.Create(Vector128.Create(0u, 0, 0, 4)))
            & Vector256.Create(Vector128.Create(KMask1, KMask2, KMask1, KMask2));
        high = ((high >> 6) & Vector256.Create(Vector128.Create(0u, KMask3, 0, KMask3))) << 4;
        return low | high;
    }

    /// <summary>Packs 6-bit scales and mins as quantize_row_q4_K_ref / q5_K_ref do.</summary>
    public static void Pack(ReadOnlySpan<byte> scales, ReadOnlySpan<byte> mins, Span<byte> packed)
    {
        for (int j = 0; j < 8; j++)
        {
            byte ls = scales[j], lm = mins[j];
            if (j < 4)
            {
                packed[j] = ls;
                packed[j + 4] = lm;
            }
            else
            {
                packed[j + 4] = (byte)((ls & 0xF) | ((lm & 0xF) << 4));
                packed[j - 4] |= (byte)((ls >> 4) << 6);
                packed[j] |= (byte)((lm >> 4) << 6);
            }
        }
    }
}
