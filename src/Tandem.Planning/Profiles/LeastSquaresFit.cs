namespace Tandem.Planning.Profiles;

/// <summary>One timed step: its two features (Σl and Σl² for prefill; Σctx and batch for decode) and the seconds it took.</summary>
public readonly record struct TimedPoint(double X1, double X2, double Seconds);

/// <summary>
/// Fits <c>a + b·x1 + c·x2</c> by non-negative least squares (normal equations) and measures it on points left out of the
/// fit: every <c>holdOutEvery</c>-th point is held out, so the error reported is the error on shapes the fit did not see.
/// <para>
/// The squares are of <em>relative</em> residuals (each point weighted by 1/seconds²), the error the fit reports and
/// the one that matters to an SLO. Plain least squares let the slowest steps decide: on one core, decode steps of
/// 32 requests (120–320 ms) pulled the fit's one-request step to 6 ms where it measured 10–11 ms, and the simulated
/// TPOT of a one-core decode instance came out at half the measured one (docs/experiments/planner.md).
/// </para>
/// </summary>
public static class LeastSquaresFit
{
    public static (StepCoefficients Coefficients, FitError Error) Fit(IReadOnlyList<TimedPoint> points, int holdOutEvery = 4)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(holdOutEvery, 2);
        var (fit, held) = HoldOut(points, holdOutEvery);
        if (fit.Count < 3) throw new ArgumentException($"a fit of three coefficients needs at least 3 points outside the held-out ones; got {fit.Count}");
        var c = Solve(fit);
        // Too few points to hold any out: report the error on the fitted ones.
        return (c, Score(held.Count > 0 ? held : fit, fit.Count, held.Count, p => c.Evaluate(p.X1, p.X2)));
    }

    /// <summary>
    /// Fits decode steps (x2 = batch size) as DistServe's profiles are: one model, or two split at the batch size where
    /// that fits the non-held-out points best. A CPU decode step is bound by reading the weights at small batches and
    /// by compute at large ones (one core: 10 ms for 1 request, 118 ms for 32), a bend one plane through both ranges
    /// misses at both ends. Held-out points are scored with the piece that covers them.
    /// </summary>
    public static (IReadOnlyList<DecodePiece> Pieces, FitError Error) FitDecode(IReadOnlyList<TimedPoint> points, int holdOutEvery = 4)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(holdOutEvery, 2);
        var (fit, held) = HoldOut(points, holdOutEvery);
        if (fit.Count < 3) throw new ArgumentException($"a fit of three coefficients needs at least 3 points outside the held-out ones; got {fit.Count}");
        IReadOnlyList<DecodePiece> best = [new DecodePiece(null, Solve(fit))];
        double bestError = SquaredRelativeError(best, fit);
        foreach (int split in fit.Select(p => (int)p.X2).Distinct().Order())
        {
            var small = fit.Where(p => p.X2 <= split).ToList();
            var large = fit.Where(p => p.X2 > split).ToList();
            if (small.Count < 4 || large.Count < 4) continue; // three coefficients and at least one point to spare
            StepCoefficients lower, upper;
            try { (lower, upper) = (Solve(small), Solve(large)); }
            catch (ArgumentException) { continue; } // a side where a feature never varies
            IReadOnlyList<DecodePiece> pieces = [new DecodePiece(split, lower), new DecodePiece(null, upper)];
            double error = SquaredRelativeError(pieces, fit);
            if (error < bestError) (best, bestError) = (pieces, error);
        }
        return (best, Score(held.Count > 0 ? held : fit, fit.Count, held.Count, p => Evaluate(best, p)));
    }

    private static (List<TimedPoint> Fit, List<TimedPoint> Held) HoldOut(IReadOnlyList<TimedPoint> points, int holdOutEvery)
    {
        var fit = new List<TimedPoint>();
        var held = new List<TimedPoint>();
        for (int i = 0; i < points.Count; i++) (i % holdOutEvery == holdOutEvery - 1 ? held : fit).Add(points[i]);
        return (fit, held);
    }

    private static FitError Score(List<TimedPoint> on, int fitted, int heldOut, Func<TimedPoint, double> predict)
    {
        double sum = 0, max = 0;
        foreach (var p in on)
        {
            double e = Math.Abs(predict(p) - p.Seconds) / p.Seconds;
            sum += e;
            max = Math.Max(max, e);
        }
        return new FitError(fitted, heldOut, sum / on.Count, max);
    }

    private static double Evaluate(IReadOnlyList<DecodePiece> pieces, TimedPoint p) =>
        (pieces.FirstOrDefault(c => c.MaxBatch is int max && p.X2 <= max) ?? pieces[^1]).Coefficients.Evaluate(p.X1, p.X2);

    private static double SquaredRelativeError(IReadOnlyList<DecodePiece> pieces, List<TimedPoint> points) =>
        points.Sum(p => Math.Pow((Evaluate(pieces, p) - p.Seconds) / p.Seconds, 2));

    /// <summary>
    /// Relative least squares over all of <paramref name="points"/> with every coefficient non-negative (a step never takes
    /// less time for more work, and timing noise on small shapes can otherwise tip a coefficient below zero). With
    /// three coefficients the constrained optimum is the unconstrained fit on some subset of the features, so every
    /// subset is tried and the best feasible one kept. Features are scaled to unit size first so Σl² (up to ~10⁶)
    /// and 1 do not ruin the conditioning.
    /// </summary>
    public static StepCoefficients Solve(IReadOnlyList<TimedPoint> points)
    {
        double s1 = 0, s2 = 0;
        foreach (var p in points) { s1 = Math.Max(s1, Math.Abs(p.X1)); s2 = Math.Max(s2, Math.Abs(p.X2)); }
        s1 = s1 > 0 ? s1 : 1;
        s2 = s2 > 0 ? s2 : 1;
        double[]? best = null;
        double bestError = double.PositiveInfinity;
        bool determined = false;
        for (int mask = 7; mask >= 1; mask--)
        {
            if (SolveSubset(points, s1, s2, mask) is not { } x) continue;
            if (mask == 7) determined = true;
            if (x.Any(v => v < 0)) continue;
            double error = 0;
            foreach (var p in points)
            {
                double r = (x[0] + x[1] * p.X1 / s1 + x[2] * p.X2 / s2 - p.Seconds) / p.Seconds;
                error += r * r;
            }
            if (error < bestError) { best = x; bestError = error; }
        }
        if (!determined || best is null)
            throw new ArgumentException("the timed points do not determine the model (a feature never varies): vary batch sizes and lengths");
        return new StepCoefficients(best[0], best[1] / s1, best[2] / s2);
    }

    /// <summary>Unconstrained least squares on the features in <paramref name="mask"/> (bit 0: 1, bit 1: x1, bit 2: x2); the others are 0. Null when singular.</summary>
    private static double[]? SolveSubset(IReadOnlyList<TimedPoint> points, double s1, double s2, int mask)
    {
        var used = Enumerable.Range(0, 3).Where(i => (mask >> i & 1) != 0).ToArray();
        int n = used.Length;
        var m = new double[n, n + 1];
        Span<double> f = stackalloc double[3];
        foreach (var p in points)
        {
            // Row and target divided by the measured time: the normal equations of the relative residuals.
            double w = 1 / p.Seconds;
            f[0] = w; f[1] = p.X1 / s1 * w; f[2] = p.X2 / s2 * w;
            for (int i = 0; i < n; i++)
            {
                for (int j = 0; j < n; j++) m[i, j] += f[used[i]] * f[used[j]];
                m[i, n] += f[used[i]]; // target p.Seconds · w = 1
            }
        }
        if (GaussianElimination(m, n) is not { } sub) return null;
        var x = new double[3];
        for (int i = 0; i < n; i++) x[used[i]] = sub[i];
        return x;
    }

    private static double[]? GaussianElimination(double[,] m, int n)
    {
        for (int col = 0; col < n; col++)
        {
            int pivot = col;
            for (int r = col + 1; r < n; r++) if (Math.Abs(m[r, col]) > Math.Abs(m[pivot, col])) pivot = r;
            if (Math.Abs(m[pivot, col]) < 1e-12) return null;
            for (int k = 0; k <= n; k++) (m[col, k], m[pivot, k]) = (m[pivot, k], m[col, k]);
            for (int r = 0; r < n; r++)
            {
                if (r == col) continue;
                double f = m[r, col] / m[col, col];
                for (int k = col; k <= n; k++) m[r, k] -= f * m[col, k];
            }
        }
        var x = new double[n];
        for (int i = 0; i < n; i++) x[i] = m[i, n] / m[i, i];
        return x;
    }
}
