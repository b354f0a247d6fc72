using Tandem.Engine.Tests;
using Tandem.Planning.Profiles;

namespace Tandem.Planning.Tests;

public class LatencyProfileTests
{
    private static string DistServeJson => Path.GetFullPath(Path.Combine(TestPaths.RepoRoot, "..", "shared", "data", "distserve-a100", "profiler-a100-80g.distserve.json"));

    [Fact]
    public void Least_squares_recovers_the_coefficients_and_reports_held_out_error()
    {
        var truth = new StepCoefficients(0.02, 0.007, 1e-6);
        var points = new List<TimedPoint>();
        int i = 0;
        foreach (int tokens in new[] { 16, 64, 128, 256, 512 })
            foreach (int prompts in new[] { 1, 2, 4, 8 })
            {
                double squares = (double)tokens * tokens / prompts;
                double noise = 1 + 0.01 * ((i++ % 3) - 1); // ±1%, no randomness
                points.Add(new TimedPoint(tokens, squares, truth.Evaluate(tokens, squares) * noise));
            }
        var (fit, error) = LeastSquaresFit.Fit(points);
        Assert.Equal(15, error.FittedPoints);
        Assert.Equal(5, error.HeldOutPoints);
        Assert.InRange(fit.B, 0.0069, 0.0071);
        Assert.InRange(error.MeanRelativeError, 0, 0.02);
        Assert.InRange(error.MaxRelativeError, error.MeanRelativeError, 0.03);
    }

    [Fact]
    public void Fit_keeps_every_coefficient_non_negative()
    {
        // Timing noise that an unconstrained fit answers with a negative intercept (a = −0.5 fits these exactly).
        var points = new List<TimedPoint> { new(10, 1, 0.5), new(20, 3, 1.5), new(30, 2, 2.5), new(40, 5, 3.5), new(50, 4, 4.5) };
        Assert.True(LeastSquaresFit.Solve(points) is { A: >= 0, B: >= 0, C: >= 0 });
    }

    [Fact]
    public void The_fit_keeps_small_steps_close_when_large_ones_are_slow_out_of_proportion()
    {
        // One core's decode steps as `tandem profile` measured them (docs/experiments/planner/profile.log): batch, context,
        // milliseconds. Batches of 32 cost 12–20× a batch of 1; an absolute least-squares fit followed them and put the
        // one-request step at about half its measured time.
        (int Batch, int Context, double Ms)[] measured =
        [
            (1, 64, 10.1),
            (1, 256, 11.4),
            (1, 512, 13.2),
            (1, 1024, 16.6),
            (2, 64, 9.7),
            (2, 256, 14.8),
            (2, 512, 15.1),
            (2, 1024, 22.8),
            (4, 64, 14.4),
            (4, 256, 19.0),
            (4, 512, 27.2),
            (4, 1024, 40.5),
            (8, 64, 25.3),
            (8, 256, 33.2),
            (8, 512, 45.8),
            (8, 1024, 76.9),
            (16, 64, 48.9),
            (16, 256, 69.9),
            (16, 512, 100.9),
            (16, 1024, 188.7),
            (32, 64, 118.3),
            (32, 256, 142.5),
            (32, 512, 206.1),
            (32, 1024, 320.8),
        ];
        var points = measured.Select(m => new TimedPoint((double)m.Batch * (m.Context + 1), m.Batch, m.Ms / 1000)).ToList();
        var (pieces, error) = LeastSquaresFit.FitDecode(points);
        var config = new ConfigLatency { Tp = 1, Prefill = new StepCoefficients(0, 1, 0), Decode = pieces };
        foreach (var m in measured.Where(m => m.Batch <= 2))
            Assert.InRange(config.DecodeSeconds((double)m.Batch * (m.Context + 1), m.Batch) * 1000 / m.Ms, 0.85, 1.15);
        Assert.InRange(error.MeanRelativeError, 0, 0.1);
    }

    [Fact]
    public void Fit_refuses_points_that_do_not_determine_the_model()
    {
        var flat = Enumerable.Range(0, 8).Select(i => new TimedPoint(128, 128 * 128, 0.9 + i * 0.001)).ToList();
        Assert.Throws<ArgumentException>(() => LeastSquaresFit.Fit(flat));
    }

    [Fact]
    public void DistServe_a100_profile_loads_in_seconds_with_two_decode_pieces_and_kv_capacity()
    {
        var p = LatencyProfileJson.Read(DistServeJson, "opt-13b");
        Assert.Equal("facebook/opt-13b", p.Model);
        Assert.Equal(new[] { 1, 2, 4 }, p.Configs.Select(c => c.Tp));
        var tp1 = p.For(1);
        Assert.Equal(0.01810254647486372, tp1.Prefill.A, 12);
        Assert.Equal(2L * 40 * 5120 * 2, p.KvBytesPerToken);
        Assert.Equal(66144, p.KvCapacityTokens(1, 1));
        Assert.Equal(163008, p.KvCapacityTokens(1, 2));
        // simdistserve: small-batch coefficients below the threshold of 95, large-batch from it on.
        Assert.Equal((19.934702624895458 + 0.0006269356524350583 * 1000 + 0.03850697740828398 * 94) / 1000, tp1.DecodeSeconds(1000, 94), 12);
        Assert.Equal((7.1661889468253595 + 0.0005798000403396046 * 1000 + 0.15831096191764046 * 95) / 1000, tp1.DecodeSeconds(1000, 95), 12);
        var e = Assert.Throws<ArgumentException>(() => LatencyProfileJson.Read(DistServeJson));
        Assert.Contains("opt-66b", e.Message);
    }

    [Fact]
    public void Profile_json_round_trips()
    {
        var p = LatencyProfileJson.Read(DistServeJson, "opt-66b") with { Device = "test" };
        var withFit = p with { Configs = [p.Configs[0] with { PrefillFit = new FitError(12, 4, 0.02, 0.05) }, .. p.Configs.Skip(1)] };
        string path = Path.Combine(TestPaths.NewTempDir(), "profile.json");
        LatencyProfileJson.Write(path, withFit);
        var back = LatencyProfileJson.Read(path);
        Assert.Equal(LatencyProfileJson.Serialize(withFit), LatencyProfileJson.Serialize(back));
        Assert.Equal(withFit.For(2).DecodeSeconds(5000, 120), back.For(2).DecodeSeconds(5000, 120));
        Assert.Contains("\"kv_bytes_per_token\"", File.ReadAllText(path));
    }
}
