using Tandem.Engine.Gguf;
using Tandem.Engine.Quantization;

namespace Tandem.Engine.Tests.Quantization;

/// <summary>One implementation of a dot product that the tests compare (AVX2, scalar, Vector512 ...).</summary>
public delegate float DotPath(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n);

/// <summary>What the legacy-type tests need to know about one stored type.</summary>
public sealed class LegacyQuantCase
{
    public required GgmlType Type { get; init; }
    /// <summary>Largest allowed |dequantize(quantize(x)) - x| for one block of the source.</summary>
    public required Func<float[], double> BlockErrorBound { get; init; }
    /// <summary>The dot implementations available on this machine, by name (the dispatching one first).</summary>
    public required IReadOnlyList<(string Name, DotPath Dot)> DotPaths { get; init; }

    public GgmlType DotType => RowKernels.DotType(Type);
    public int BlockSize => GgmlTypeInfo.BlockSize(Type);

    public override string ToString() => GgmlTypeInfo.Name(Type);

    public byte[] Quantize(float[] x)
    {
        var bytes = new byte[GgmlTypeInfo.RowBytes(Type, x.Length)];
        RowKernels.Quantize(Type, x, bytes);
        return bytes;
    }

    public float[] Dequantize(byte[] bytes, int n)
    {
        var y = new float[n];
        RowKernels.Dequantize(Type, bytes, y);
        return y;
    }

    public byte[] QuantizeActivations(float[] x)
    {
        var bytes = new byte[GgmlTypeInfo.RowBytes(DotType, x.Length)];
        RowKernels.Quantize(DotType, x, bytes);
        return bytes;
    }

    /// <summary>Decodes an activation row of <see cref="DotType"/> (Q8_1 is not a stored type, so RowKernels has no decoder for it).</summary>
    public float[] DequantizeActivations(byte[] bytes, int n)
    {
        var y = new float[n];
        if (DotType == GgmlType.Q8_1)
            ActivationQ8_1.Dequantize(bytes, y);
        else
            RowKernels.Dequantize(DotType, bytes, y);
        return y;
    }

    public static readonly LegacyQuantCase Q4_0 = new()
    {
        Type = GgmlType.Q4_0,
        // d = amax/8; the value opposite in sign to the extreme one is clipped from +8 to +7 steps (error d).
        BlockErrorBound = x => AbsMax(x) / 8 * (1 + 1.0 / 128),
        DotPaths = Paths(RowQ4_0.Dot, RowQ4_0.DotAvx2, RowQ4_0.DotScalar),
    };

    public static readonly LegacyQuantCase Q4_1 = new()
    {
        Type = GgmlType.Q4_1,
        BlockErrorBound = x => MinMaxBound(x, 15),
        DotPaths = Paths(RowQ4_1.Dot, RowQ4_1.DotAvx2, RowQ4_1.DotScalar),
    };

    public static readonly LegacyQuantCase Q5_0 = new()
    {
        Type = GgmlType.Q5_0,
        BlockErrorBound = x => AbsMax(x) / 16 * (1 + 1.0 / 64),
        DotPaths = Paths(RowQ5_0.Dot, RowQ5_0.DotAvx2, RowQ5_0.DotScalar),
    };

    public static readonly LegacyQuantCase Q5_1 = new()
    {
        Type = GgmlType.Q5_1,
        BlockErrorBound = x => MinMaxBound(x, 31),
        DotPaths = Paths(RowQ5_1.Dot, RowQ5_1.DotAvx2, RowQ5_1.DotScalar),
    };

    public static readonly LegacyQuantCase Q8_0 = new()
    {
        Type = GgmlType.Q8_0,
        // half a step, plus 127 steps times the F16 rounding of d
        BlockErrorBound = x => AbsMax(x) / 127 * (0.5 + 127.0 / 2048 + 1e-3),
        DotPaths = Paths(RowQ8_0.Dot, RowQ8_0.DotAvx2, RowQ8_0.DotScalar),
    };

    public static readonly LegacyQuantCase F16 = new()
    {
        Type = GgmlType.F16,
        BlockErrorBound = x => AbsMax(x) / 2048 + 3e-8,
        DotPaths = HalfPaths(RowF16.Dot, RowF16.DotVector512, RowF16.DotVector256, RowF16.DotScalar),
    };

    public static readonly LegacyQuantCase BF16 = new()
    {
        Type = GgmlType.BF16,
        BlockErrorBound = x => AbsMax(x) / 256,
        DotPaths = HalfPaths(RowBF16.Dot, RowBF16.DotVector512, RowBF16.DotVector256, RowBF16.DotScalar),
    };

    public static IEnumerable<LegacyQuantCase> All => [Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, F16, BF16];

    public static LegacyQuantCase Of(GgmlType type) => All.Single(c => c.Type == type);

    public static double AbsMax(float[] x) => x.Max(v => Math.Abs((double)v));

    // step/2 plus the F16 rounding of d (times up to `steps` steps) and of the minimum
    private static double MinMaxBound(float[] x, int steps)
    {
        double min = x.Min(), max = x.Max();
        double d = (max - min) / steps;
        return d * (0.5 + 1e-3) + (Math.Abs(min) + Math.Abs(max)) / 1024;
    }

    private delegate float BlockDot(ReadOnlySpan<byte> w, ReadOnlySpan<byte> a, int nb);
    private delegate float HalfDot(ReadOnlySpan<ushort> w, ReadOnlySpan<ushort> a);
    private delegate float HalfScalarDot(ReadOnlySpan<ushort> w, ReadOnlySpan<ushort> a, int start, float sum);

    private static List<(string, DotPath)> Paths(DotPath dispatch, BlockDot avx2, BlockDot scalar)
    {
        var paths = new List<(string, DotPath)> { ("dispatch", dispatch), ("scalar", (w, a, n) => scalar(w, a, n / 32)) };
        if (LegacyQuantMath.UseAvx2)
            paths.Add(("avx2", (w, a, n) => avx2(w, a, n / 32)));
        return paths;
    }

    private static List<(string, DotPath)> HalfPaths(DotPath dispatch, HalfDot v512, HalfDot v256, HalfScalarDot scalar)
    {
        static ReadOnlySpan<ushort> U16(ReadOnlySpan<byte> b, int n) => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ushort>(b)[..n];
        var paths = new List<(string, DotPath)> { ("dispatch", dispatch), ("scalar", (w, a, n) => scalar(U16(w, n), U16(a, n), 0, 0f)) };
        if (System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated)
            paths.Add(("vector512", (w, a, n) => v512(U16(w, n), U16(a, n))));
        if (System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated)
            paths.Add(("vector256", (w, a, n) => v256(U16(w, n), U16(a, n))));
        return paths;
    }
}
