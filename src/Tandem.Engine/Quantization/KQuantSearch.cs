namespace Tandem.Engine.Quantization;

/// <summary>
/// The scale searches of ggml's reference K-quantisers (ggml-quants.c), ported operation for operation
/// (same float expression order, no fused multiply-add) so that our GGUF writer produces the blocks
/// llama.cpp's quantize_row_q*_K_ref would.
/// </summary>
internal static class KQuantSearch
{
    /// <summary>
    /// ggml's make_qkx2_quants: asymmetric quantisation of <paramref name="x"/> to levels 0..nmax with a
    /// scale and a (non-positive) offset, chosen by a weighted least-squares search over candidate scales.
    /// Returns the scale; <paramref name="theMin"/> receives the offset negated (ggml's the_min).
    /// </summary>
    public static float MakeQkx2Quants(int nmax, ReadOnlySpan<float> x, ReadOnlySpan<float> weights,
        Span<byte> l, out float theMin, Span<byte> laux, float rmin, float rdelta, int nstep, bool useMad)
    {
        int n = x.Length;
        float min = x[0];
        float max = x[0];
        float sumW = weights[0];
        float sumX = sumW * x[0];
        for (int i = 1; i < n; ++i)
        {
            if (x[i] < min) min = x[i];
            if (x[i] > max) max = x[i];
            float w = weights[i];
            sumW += w;
            sumX += w * x[i];
        }
        if (min > 0) min = 0;
        if (max == min)
        {
            l[..n].Clear();
            theMin = -min;
            return 0f;
        }
        float iscale = nmax / (max - min);
        float scale = 1 / iscale;
        float bestError = 0;
        for (int i = 0; i < n; ++i)
        {
            int li = KQuantBlocks.NearestInt(iscale * (x[i] - min));
            l[i] = (byte)Math.Max(0, Math.Min(nmax, li));
            float diff = scale * l[i] + min - x[i];
            diff = useMad ? MathF.Abs(diff) : diff * diff;
            bestError += weights[i] * diff;
        }
        if (nstep < 1)
        {
            theMin = -min;
            return scale;
        }
        for (int s = 0; s <= nstep; ++s)
        {
            iscale = (rmin + rdelta * s + nmax) / (max - min);
            float sumL = 0, sumL2 = 0, sumXL = 0;
            for (int i = 0; i < n; ++i)
            {
                int li = KQuantBlocks.NearestInt(iscale * (x[i] - min));
                li = Math.Max(0, Math.Min(nmax, li));
                laux[i] = (byte)li;
                float w = weights[i];
                sumL += w * li;
                sumL2 += w * li * li;
                sumXL += w * li * x[i];
            }
            float d = sumW * sumL2 - sumL * sumL;
            if (d > 0)
            {
                float thisScale = (sumW * sumXL - sumX * sumL) / d;
                float thisMin = (sumL2 * sumX - sumL * sumXL) / d;
                if (thisMin > 0)
                {
                    thisMin = 0;
                    thisScale = sumXL / sumL2;
                }
                float curError = 0;
                for (int i = 0; i < n; ++i)
                {
                    float diff = thisScale * laux[i] + thisMin - x[i];
                    diff = useMad ? MathF.Abs(diff) : diff * diff;
                    curError += weights[i] * diff;
                }
                if (curError < bestError)
                {
                    laux[..n].CopyTo(l);
                    bestError = curError;
                    scale = thisScale;
                    min = thisMin;
                }
            }
        }
        theMin = -min;
        return scale;
    }

    /// <summary>
    /// ggml's make_qx_quants with rmse_type 1 and no importance weights (weights x²): symmetric quantisation
    /// to levels -nmax..nmax-1, stored in <paramref name="l"/> offset by nmax. Returns the (signed) scale.
    /// </summary>
    public static float MakeQxQuants(int nmax, ReadOnlySpan<float> x, Span<sbyte> l)
    {
        int n = x.Length;
        float max = 0;
        float amax = 0;
        for (int i = 0; i < n; ++i)
        {
            float ax = MathF.Abs(x[i]);
            if (ax > amax) { amax = ax; max = x[i]; }
        }
        if (amax < KQuantBlocks.GroupMaxEps)
        {
            l[..n].Clear();
            return 0f;
        }
        float iscale = -nmax / max;
        float sumlx = 0;
        float suml2 = 0;
        for (int i = 0; i < n; ++i)
        {
            int li = KQuantBlocks.NearestInt(iscale * x[i]);
            li = Math.Max(-nmax, Math.Min(nmax - 1, li));
            l[i] = (sbyte)(li + nmax);
            float w = x[i] * x[i];
            sumlx += w * x[i] * li;
            suml2 += w * li * li;
        }
        float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
        float best = scale * sumlx;
        for (int s = -9; s <= 9; ++s)
        {
            if (s == 0)
                continue;
            iscale = -(nmax + 0.1f * s) / max;
            sumlx = suml2 = 0;
            for (int i = 0; i < n; ++i)
            {
                int li = KQuantBlocks.NearestInt(iscale * x[i]);
                li = Math.Max(-nmax, Math.Min(nmax - 1, li));
                float w = x[i] * x[i];
                sumlx += w * x[i] * li;
                suml2 += w * li * li;
            }
            if (suml2 > 0 && sumlx * sumlx > best * suml2)
            {
                for (int i = 0; i < n; ++i)
                {
                    int li = KQuantBlocks.NearestInt(iscale * x[i]);
                    l[i] = (sbyte)(nmax + Math.Max(-nmax, Math.Min(nmax - 1, li)));
                }
                scale = sumlx / suml2;
                best = scale * sumlx;
            }
        }
        return scale;
    }
}
