using Tandem.Bench;

namespace Tandem.Bench.Tests;

public class ReadBandwidthTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Every_word_is_read_exactly_once_per_pass(int threads)
    {
        const long bytes = 5L << 20; // five chunks: a team of 2 or 3 cannot split it evenly
        var (bandwidth, checksum) = ReadBandwidth.Run(threads, bytes, passes: 3, fill: words =>
        {
            for (int i = 0; i < words.Length; i++) words[i] = (ulong)i * 0x9E3779B97F4A7C15UL;
        });

        ulong expected = 0;
        for (long i = 0; i < bytes / 8; i++) expected += (ulong)i * 0x9E3779B97F4A7C15UL;
        Assert.Equal(expected, checksum);
        Assert.True(double.IsFinite(bandwidth) && bandwidth > 0, $"bandwidth {bandwidth}");
    }

    [Fact]
    public void A_buffer_that_is_not_whole_chunks_is_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => ReadBandwidth.Run(2, (1L << 20) + 64, 1, null));
        Assert.Throws<ArgumentOutOfRangeException>(() => ReadBandwidth.Run(0, 1L << 20, 1, null));
    }
}
