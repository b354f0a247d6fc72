using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using Tandem.Engine.Kernels;

namespace Tandem.Engine.Quantization;

/// <summary>
/// A batch of activation rows for the tiled F16 kernels: each row rounded to F16 exactly as
/// <see cref="RowF16.Quantize"/> does (ggml converts F16 matmul activations to F16), then widened back to F32
/// once here, so the kernels load ready floats instead of re-widening every activation for every weight row
/// (the single-pair dot widens both operands: 14 of its 15 operations per 16 products were conversions).
/// Widening is exact, so each float equals what <see cref="FloatConversions.HalfToSingle"/> gives the dot.
/// <para>
/// Token t's row is at <c>Row(t)</c> (rows 64-byte aligned). <see cref="HasSpecial"/> records whether the part
/// of the row that <see cref="GgmlFloatDot.VecDotF16"/> sums in vectors holds an F16 inf or NaN: that dot then
/// redoes the pair as a plain sum, and the kernels must too.
/// </para>
/// The panel is a view of memory owned by the caller (the matmul's scratch buffer).
/// </summary>
internal readonly unsafe struct F16ActivationPanel : IActivationPanel
{
    public const int Alignment = 64;

    /// <summary>Elements converted per stack chunk.</summary>
    private const int Chunk = 256;

    private readonly float* _rows;
    private readonly byte* _special;
    /// <summary>Floats from one token's row to the next (a multiple of 16).</summary>
    public readonly int Stride;
    public readonly int Cols;
    public int Tokens { get; }

    public static long BytesNeeded(int tokens, int cols) => (long)tokens * RowStride(cols) * sizeof(float) + tokens;

    private static int RowStride(int cols) => (cols + 15) & ~15;

    /// <param name="buffer">At least <see cref="BytesNeeded"/> bytes, aligned to <see cref="Alignment"/>.</param>
    public F16ActivationPanel(byte* buffer, int tokens, int cols)
    {
        if ((nuint)buffer % Alignment != 0)
            throw new ArgumentException($"the panel buffer must be aligned to {Alignment} bytes", nameof(buffer));
        Tokens = tokens;
        Cols = cols;
        Stride = RowStride(cols);
        _rows = (float*)buffer;
        _special = buffer + (long)tokens * Stride * sizeof(float);
    }

    private F16ActivationPanel(float* rows, byte* special, int stride, int tokens, int cols)
    {
        _rows = rows;
        _special = special;
        Stride = stride;
        Tokens = tokens;
        Cols = cols;
    }

    /// <summary>
    /// This panel with its rows read from <paramref name="rows"/> (the same stride; 64-byte aligned) and its inf/NaN
    /// flags from here: a re-laid-out copy of the rows (<see cref="F16UnpackedPanel"/>) for kernels that take a panel.
    /// </summary>
    public F16ActivationPanel WithRows(float* rows) => new(rows, _special, Stride, Tokens, Cols);

    public float* Row(int t) => _rows + (long)t * Stride;

    public bool HasSpecial(int t) => _special[t] != 0;

    /// <summary>Rounds token <paramref name="t"/>'s row to F16 and stores it widened.</summary>
    public void Write(int t, ReadOnlySpan<float> row)
    {
        if (row.Length != Cols)
            throw new ArgumentException($"row has {row.Length} elements, the panel {Cols}", nameof(row));
        float* dst = Row(t);
        Span<Half> halves = stackalloc Half[Chunk];
        int vectorEnd = VectorEnd(Cols);
        bool special = false;
        for (int c = 0; c < Cols; c += Chunk)
        {
            int len = Math.Min(Chunk, Cols - c);
            Span<Half> h = halves[..len];
            TensorPrimitives.ConvertToHalf(row.Slice(c, len), h);
            ReadOnlySpan<ushort> bits = MemoryMarshal.Cast<Half, ushort>(h);
            // The scan for inf/NaN a vector at a time: element by element it took as long as both conversions together.
            if (!FloatConversions.AnyHalfInfNan(bits))
            {
                TensorPrimitives.ConvertToSingle(h, new Span<float>(dst + c, len)); // exact for finite values
                continue;
            }
            for (int i = 0; i < len; i++) // the dot's own widening, so that even NaN payloads match bit for bit
            {
                special |= (bits[i] & 0x7C00) == 0x7C00 && c + i < vectorEnd;
                dst[c + i] = FloatConversions.HalfToSingle(bits[i]);
            }
        }
        _special[t] = special ? (byte)1 : (byte)0;
    }

    /// <summary>
    /// End of the part of a row of <paramref name="cols"/> that <see cref="GgmlFloatDot.VecDotF16"/> sums in
    /// vectors (steps of four ggml vectors); the rest is its scalar tail.
    /// </summary>
    public static int VectorEnd(int cols)
    {
        int step = 4 * GgmlSimd.Width;
        return step == 0 ? 0 : cols - cols % step;
    }
}
