using Tandem.Planning;

namespace Tandem.Planning.Tests;

public class MD1QueueTests
{
    [Theory]
    // D = 0.1 s: at ρ = 0.5 the wait is 0.5·0.1/(2·0.5) = 0.05 s; at ρ = 0.9, 0.9·0.1/(2·0.1) = 0.45 s.
    [InlineData(5.0, 0.1, 0.15)]
    [InlineData(9.0, 0.1, 0.55)]
    [InlineData(0.0, 0.1, 0.10)]
    public void Mean_response_is_service_plus_pollaczek_khinchine_wait(double rate, double d, double expected) =>
        Assert.Equal(expected, MD1Queue.MeanResponseSeconds(rate, d), 12);

    [Fact]
    public void Saturated_queue_is_refused_with_its_utilisation()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => MD1Queue.MeanWaitSeconds(10, 0.1));
        Assert.Contains("1.000", e.Message);
    }
}
