using Tandem.Planning.Replanning;

namespace Tandem.Planning.Tests.Replanning;

public class WorkloadWindowTests
{
    [Fact]
    public void Summarises_the_requests_that_arrived_in_the_last_window()
    {
        var window = new WorkloadWindow(10);
        window.Record(1, 1000, 10);          // leaves the window once now passes 11
        for (int i = 0; i < 20; i++)
            window.Record(5 + i * 0.25, i % 2 == 0 ? 100 : 300, 50); // 20 arrivals in [5, 9.75]: mean 200, CV 0.5
        window.Record(9.9, 200, 50);         // finished out of arrival order: still counted

        var all = window.Observe(10)!;
        Assert.Equal(22, all.Requests);
        Assert.Equal(2.2, all.Rate, 9);

        var later = window.Observe(12)!;
        Assert.Equal(21, later.Requests);
        Assert.Equal(2.1, later.Rate, 9);
        Assert.Equal(200, later.InputMean, 9);
        Assert.Equal(50, later.OutputMean, 9);
        Assert.Equal(0, later.OutputCv, 9);
        Assert.Equal(Math.Sqrt(20 * 100.0 * 100 / 21) / 200, later.InputCv, 9); // 20 at ±100 around 200, one at 200

        Assert.Null(window.Observe(30));
    }

    [Fact]
    public void A_window_must_be_positive() =>
        Assert.Contains("--replan-window", Assert.Throws<ArgumentOutOfRangeException>(() => new WorkloadWindow(0)).Message);
}
