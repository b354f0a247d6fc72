using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Tandem.Engine.Quantization;

/// <summary>SIMD helpers for the K-quant dot kernels.</summary>
internal static class KQuantSimd
{
    /// <summary>ggml's hsum_float_8, same addition order (upper+lower halves, then pairs, then the last two).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float HorizontalSum(Vector256<float> x)
    {
        Vector128<float> res = Sse.Add(x.GetUpper(), x.GetLower());
        res = Sse.Add(res, Sse.MoveHighToLow(res, res));
        res = Sse.AddScalar(res, Sse3.MoveHighAndDuplicate(res));
        return res.ToScalar();
    }
}
