using System.Runtime.InteropServices;

namespace Tandem.Engine.Quantization;

/// <summary>
/// <see cref="FloatConversions.HalfToSingle(ushort)"/> of every F16 bit pattern, 256 KB, built on first use and
/// never freed. .NET exposes no F16C, so an F16 scale costs about a dozen vector operations to widen; the AVX2
/// tile kernels, whose floating-point pipes are the bottleneck, read a row's block scale from here with one
/// broadcast load instead. Weight scales of one matrix span a few binades, so the part in use stays cached.
/// </summary>
internal static unsafe class HalfToSingleTable
{
    /// <summary>Entry h is the F32 value of F16 bits h.</summary>
    public static readonly float* Values = Build();

    private static float* Build()
    {
        var values = (float*)NativeMemory.AlignedAlloc(65536 * sizeof(float), 64);
        for (int h = 0; h < 65536; h++)
            values[h] = FloatConversions.HalfToSingle((ushort)h);
        return values;
    }
}
