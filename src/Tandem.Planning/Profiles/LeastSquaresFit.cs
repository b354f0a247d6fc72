namespace Tandem.Planning.Profiles;

/// <summary>One timed step: its two features (Σl and Σl² for prefill; Σctx and batch for decode) and the seconds it took.</summary>
public readonly record struct TimedPoint(double X1, double X2, double Seconds);

/// <summary>
/// Fits <c>a + b·x1 + c·x2</c> by least squares (normal equations, 3×3) and measures it on points left out of the
/// fit: every <c>holdOutEvery</c>-th point is held out, so the error reported is the error on shapes the fit did not see.
/// </summary>
public static class LeastSquaresFit
{
    public static (StepCoefficients Coefficients, FitError Error) Fit(IReadOnlyList<TimedPoint> points, int holdOutEvery = 4)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(holdOutEvery, 2);
        var fit = new List<TimedPoint>();
        var held = new List<TimedPoint>();
        for (int i = 0; i < points.Count; i++) (i % holdOutEvery == holdOutEvery - 1 ? held : fit).Add(points[i]);
        if (fit.Count < 3) throw new ArgumentException($"a fit of three coefficients needs at least 3 points outside the held-out ones; got {fit.Count}");
        var c = Solve(fit);
        var on = held.Count > 0 ? held : fit; // too few points to hold any out: report the error on the fitted ones
        double sum = 0, max = 0;
        foreach (var p in on)
        {
            double e = Math.Abs(c.Evaluate(p.X1, p.X2) - p.Seconds) / p.Seconds;
            sum += e;
            max = Math.Max(max, e);
        }
        return (c, new FitError(fit.Count, held.Count, sum / on.Count, max));
    }

    /// <summary>Least squares over all of <paramref name="points"/>. Features are scaled to unit size first so Σl² (up to ~10⁶) and 1 do not ruin the conditioning.</summary>
    public static StepCoefficients Solve(IReadOnlyList<TimedPoint> points)
    {
        double s1 = 0, s2 = 0;
        foreach (var p in points) { s1 = Math.Max(s1, Math.Abs(p.X1)); s2 = Math.Max(s2, Math.Abs(p.X2)); }
        s1 = s1 > 0 ? s1 : 1;
        s2 = s2 > 0 ? s2 : 1;
        var m = new double[3, 4];
        foreach (var p in points)
        {
            Span<double> f = [1, p.X1 / s1, p.X2 / s2];
            for (int i = 0; i < 3; i++)
            {
                for (int j = 0; j < 3; j++) m[i, j] += f[i] * f[j];
                m[i, 3] += f[i] * p.Seconds;
            }
        }
        var x = GaussianElimination(m);
        return new StepCoefficients(x[0], x[1] / s1, x[2] / s2);
    }

    private static double[] GaussianElimination(double[,] m)
    {
        const int n = 3;
        for (int col = 0; col < n; col++)
        {
            int pivot = col;
            for (int r = col + 1; r < n; r++) if (Math.Abs(m[r, col]) > Math.Abs(m[pivot, col])) pivot = r;
            if (Math.Abs(m[pivot, col]) < 1e-12)
                throw new ArgumentException("the timed points do not determine the model (a feature never varies): vary batch sizes and lengths");
            for (int k = 0; k <= n; k++) (m[col, k], m[pivot, k]) = (m[pivot, k], m[col, k]);
            for (int r = 0; r < n; r++)
            {
                if (r == col) continue;
                double f = m[r, col] / m[col, col];
                for (int k = col; k <= n; k++) m[r, k] -= f * m[col, k];
            }
        }
        return [m[0, 3] / m[0, 0], m[1, 3] / m[1, 1], m[2, 3] / m[2, 2]];
    }
}
