namespace Tandem.Engine.Kernels;

/// <summary>
/// Rotary position embedding, in ggml's two orderings. Angles are computed the way ggml's rope does
/// (theta for pair i = pos * freq_scale * base^(-2i/n_dims), by repeated float multiplication, divided
/// by an optional per-pair frequency factor) so that positions agree with llama.cpp bit for bit.
/// </summary>
public sealed class Rope
{
    private readonly int _dims;
    private readonly float _thetaScale;
    private readonly float _freqScale;
    private readonly float[]? _freqFactors;
    private readonly bool _neox;

    /// <param name="dims">Rotated dimensions of each head (n_rot).</param>
    /// <param name="freqBase">RoPE base (10000, 500000 ...).</param>
    /// <param name="freqScale">1/factor for linear scaling.</param>
    /// <param name="neox">NeoX ordering (pairs i and i + dims/2) instead of adjacent pairs.</param>
    /// <param name="freqFactors">Per-pair divisors (Llama 3 style scaling: the rope_freqs tensor), or null.</param>
    public Rope(int dims, float freqBase, float freqScale, bool neox, float[]? freqFactors)
    {
        if (dims % 2 != 0) throw new ArgumentException("RoPE dimensions must be even", nameof(dims));
        if (freqFactors != null && freqFactors.Length < dims / 2)
            throw new ArgumentException($"RoPE frequency factors have {freqFactors.Length} entries, need {dims / 2}");
        _dims = dims;
        _thetaScale = MathF.Pow(freqBase, -2.0f / dims);
        _freqScale = freqScale;
        _freqFactors = freqFactors;
        _neox = neox;
    }

    /// <summary>Fills cos/sin tables (dims/2 entries each) for one position.</summary>
    public void Angles(int position, Span<float> cos, Span<float> sin)
    {
        float thetaBase = position;
        for (int i = 0; i < _dims / 2; i++)
        {
            float ff = _freqFactors != null ? _freqFactors[i] : 1.0f;
            float theta = _freqScale * (thetaBase / ff);
            cos[i] = MathF.Cos(theta);
            sin[i] = MathF.Sin(theta);
            thetaBase *= _thetaScale;
        }
    }

    /// <summary>
    /// Rotates every head of <paramref name="x"/> (heads × headDim, contiguous) in place. The products are fused
    /// as GCC fuses ggml's <c>x0*cos - x1*sin</c> / <c>x0*sin + x1*cos</c> (ops.cpp, -ffp-contract=fast):
    /// fma(x0, cos, -(x1·sin)) and fma(x0, sin, x1·cos), checked bit for bit against llama.cpp's rope output.
    /// </summary>
    public void Apply(Span<float> x, int headDim, ReadOnlySpan<float> cos, ReadOnlySpan<float> sin)
    {
        int half = _dims / 2;
        for (int h = 0; h + headDim <= x.Length; h += headDim)
        {
            var head = x.Slice(h, headDim);
            if (_neox)
            {
                for (int i = 0; i < half; i++)
                {
                    float x0 = head[i], x1 = head[i + half];
                    head[i] = MathF.FusedMultiplyAdd(x0, cos[i], -(x1 * sin[i]));
                    head[i + half] = MathF.FusedMultiplyAdd(x0, sin[i], x1 * cos[i]);
                }
            }
            else
            {
                for (int i = 0; i < half; i++)
                {
                    float x0 = head[2 * i], x1 = head[2 * i + 1];
                    head[2 * i] = MathF.FusedMultiplyAdd(x0, cos[i], -(x1 * sin[i]));
                    head[2 * i + 1] = MathF.FusedMultiplyAdd(x0, sin[i], x1 * cos[i]);
                }
            }
        }
    }
}
