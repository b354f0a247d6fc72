using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Tandem.Engine.Kernels;

namespace Tandem.Engine.Quantization;

/// <summary>
/// A block of up to <see cref="MaxRows"/> F16 weight rows widened to F32 in a caller's scratch buffer, for the
/// row-tile kernels of the tiled F16 matmul (<see cref="F16RowTileAvx512"/>, <see cref="F16RowTileAvx2"/>): a block is
/// widened once for every token of the batch, so the kernels spend their instructions on FMAs instead of re-widening
/// every weight vector for every group of tokens (the widening was half of the single-row kernel's instructions, and
/// about a quarter as many instructions as the FMAs when rows were widened again for every 64 tokens). Only the
/// part that <see cref="GgmlFloatDot.VecDotF16"/> sums in vectors is widened; its scalar tail is read as F16 by
/// <see cref="GgmlFloatDot.FinishWidened"/>. The widening is <see cref="GgmlFloatDot.Half8"/>'s, exact for every
/// finite value; a row whose vector part holds an F16 inf/NaN is flagged, and its dots are redone as plain sums.
/// </summary>
internal static unsafe class F16WidenedRows
{
    /// <summary>
    /// Rows per block: 16 rows are 36 KB widened at 576 columns, 96 KB at 1536 (L2), and one 64-byte line of y per
    /// token; the tiles of a block run against the same six tokens, which stay in L1 meanwhile.
    /// </summary>
    public const int MaxRows = 16;

    /// <summary>Floats from one widened row to the next for rows of <paramref name="cols"/> (64-byte aligned rows).</summary>
    public static int Stride(int cols) => (cols + 15) & ~15;

    /// <summary>Floats a scratch buffer needs for a block of rows of <paramref name="cols"/>.</summary>
    public static int ScratchFloats(int cols) => MaxRows * Stride(cols);

    /// <summary>
    /// Where accumulator <paramref name="chain"/>'s elements start in a row widened at ggml width 8 whose vector part ends at
    /// <paramref name="vectorEnd"/>: such a row is stored chain by chain (<see cref="Widen"/>), each chain a quarter of it.
    /// </summary>
    public static int ChainStart(int vectorEnd, int chain) => chain * (vectorEnd / 4);

    /// <summary>
    /// Widens elements 0..<paramref name="vectorEnd"/> (a multiple of 32; of 64 where ggml's width is 16) of
    /// <paramref name="row"/> into <paramref name="dst"/>; returns whether any of them is an F16 inf or NaN. At width 8
    /// the row is stored chain by chain: ggml's accumulator j sums elements 32s + 8j .. 32s + 8j + 7 of each step s, and
    /// those go to <c>dst[ChainStart(vectorEnd, j) + 8s ..]</c>, so that each pass of an AVX2 row tile, which runs one
    /// chain, reads its weights as one sequential stream instead of half of every other line. At width 16 the row stays
    /// in element order: a chain's 16 elements of a step are a whole cache line there, and the chain-by-chain order
    /// measured 1.0-1.1x slower on the AVX-512 tiles.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static bool Widen(ushort* row, int vectorEnd, float* dst)
    {
        ref ushort r = ref *row;
        if (GgmlSimd.Width == 16)
        {
            // The same exact widening, 16 values per instruction sequence instead of 8.
            Vector512<uint> wide = default;
            for (int i = 0; i < vectorEnd; i += 16)
                Vector512.Store(GgmlFloatDot.Half16(ref r, i, ref wide), dst + i);
            return Vector512.GreaterThanOrEqualAny(wide, Vector512.Create(0x7C00u));
        }
        float* d0 = dst, d1 = dst + ChainStart(vectorEnd, 1), d2 = dst + ChainStart(vectorEnd, 2), d3 = dst + ChainStart(vectorEnd, 3);
        Vector256<uint> magnitude = default;
        for (int i = 0, o = 0; i < vectorEnd; i += 32, o += 8)
        {
            Vector256.Store(GgmlFloatDot.Half8(ref r, i, ref magnitude), d0 + o);
            Vector256.Store(GgmlFloatDot.Half8(ref r, i + 8, ref magnitude), d1 + o);
            Vector256.Store(GgmlFloatDot.Half8(ref r, i + 16, ref magnitude), d2 + o);
            Vector256.Store(GgmlFloatDot.Half8(ref r, i + 24, ref magnitude), d3 + o);
        }
        return Vector256.GreaterThanOrEqualAny(magnitude, Vector256.Create(0x7C00u));
    }

    /// <summary>
    /// Elements 0..<paramref name="vectorEnd"/> (a multiple of 64) of <paramref name="row"/> widened the unpacking way
    /// (<see cref="F16GemvAvx512.WidenLow"/>, AVX-512 BW): per 32 elements, the 16 of the low unpack then the 16 of the high
    /// one, each exactly w · 2^-112, for tiles that run against an <see cref="F16UnpackedPanel"/> (same lane order, the
    /// 2^112 in the activations). Three operations per 16 values instead of <see cref="Widen"/>'s eight: at 16 tokens
    /// the widening was a quarter of the matmul. Returns whether any of the elements is an F16 inf or NaN.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static bool WidenUnpacked(ushort* row, int vectorEnd, float* dst)
    {
        Vector512<ushort> magnitude = default;
        for (int i = 0; i < vectorEnd; i += 32)
        {
            Vector512<ushort> h = Vector512.Load(row + i);
            magnitude = Vector512.Max(magnitude, h & Vector512.Create((ushort)0x7FFF));
            Vector512.Store(F16GemvAvx512.WidenLow(h), dst + i);
            Vector512.Store(F16GemvAvx512.WidenHigh(h), dst + i + 16);
        }
        return Vector512.GreaterThanOrEqualAny(magnitude, Vector512.Create((ushort)0x7C00));
    }

    /// <summary>
    /// The elements of <paramref name="row"/>'s steps <paramref name="begin"/>..<paramref name="end"/> (multiples of 64)
    /// that the unpacked row tiles' chain at <paramref name="offset"/> (0, 16, 32 or 48) reads, widened as
    /// <see cref="WidenUnpacked"/> does, 16 floats per 64-element step into <paramref name="dst"/>: the chain at offset o
    /// of <see cref="WidenUnpacked"/>'s row is the low (o = 0, 32) or high (16, 48) unpack of the step's first (0, 16) or
    /// second (32, 48) 32 elements. The low chains return whether any element of the 32 they load is an F16 inf or NaN
    /// (so the chains at 0 and 32 together check every element); the high ones, which load the same elements, false.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static bool WidenUnpackedChain(ushort* row, int begin, int end, int offset, float* dst)
    {
        ushort* src = row + begin + (offset & 32), srcEnd = row + end;
        if ((offset & 16) != 0)
        {
            for (; src < srcEnd; src += 64, dst += 16)
                Vector512.Store(F16GemvAvx512.WidenHigh(Vector512.Load(src)), dst);
            return false;
        }
        Vector512<ushort> magnitude = default;
        for (; src < srcEnd; src += 64, dst += 16)
        {
            Vector512<ushort> h = Vector512.Load(src);
            magnitude = Vector512.Max(magnitude, h & Vector512.Create((ushort)0x7FFF));
            Vector512.Store(F16GemvAvx512.WidenLow(h), dst);
        }
        return Vector512.GreaterThanOrEqualAny(magnitude, Vector512.Create((ushort)0x7C00));
    }
}
