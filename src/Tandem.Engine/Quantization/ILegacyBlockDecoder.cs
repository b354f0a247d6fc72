using System.Runtime.Intrinsics;

namespace Tandem.Engine.Quantization;

/// <summary>
/// Turns one stored 32-element block of a type dotted with Q8_0 activations (Q4_0, Q5_0, Q8_0) into 32 signed
/// quants, as the type's AVX2 dot kernel does. The single-pair dot, the four-token dot and the tiled matmul
/// kernels all decode through this, so they see the same integers.
/// </summary>
internal interface ILegacyBlockDecoder
{
    /// <summary>Bytes per stored block (the F16 scale is its first two bytes).</summary>
    static abstract int BlockBytes { get; }

    /// <summary>The block's 32 quants as signed bytes (ggml's <c>qx</c>). Needs AVX2.</summary>
    static abstract Vector256<sbyte> Decode(ref byte block);

    /// <summary>
    /// The same 32 quants with cross-platform <see cref="Vector128"/> operations only (elements 0..15 in
    /// <paramref name="low"/>, 16..31 in <paramref name="high"/>), for the portable kernels (Arm64, x64 without AVX2).
    /// </summary>
    static abstract void DecodePortable(ref byte block, out Vector128<sbyte> low, out Vector128<sbyte> high);

    /// <summary>The type's portable dot product, used where AVX2/FMA are missing.</summary>
    static abstract float DotScalar(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int nb);
}
