using System.Text.Json.Nodes;
using Tandem.Bench;
using Tandem.Engine.Tests;

namespace Tandem.Bench.Tests;

public class AnchorReportTests
{
    private static string Fixture => Path.Combine(AppContext.BaseDirectory, "Fixtures", "anchor-q8_0");

    /// <summary>The quiet anchor run of 2026-12-02 as committed: written before the bandwidth and memory columns existed.</summary>
    private static string PublishedRun => Path.Combine(TestPaths.RepoRoot, "docs", "performance", "2026-12-02-anchor-quiet");

    [Fact]
    public void Medians_ratios_limit_and_memory_come_from_the_rounds()
    {
        var s = AnchorReport.Build(Fixture, "c392e5094")!;

        var r = Assert.Single(s.Rows);
        Assert.Equal(("smollm-135m-q8_0.gguf", "native", 3, 3), (r.File, r.Isa, r.Rounds, r.Repetitions));
        // Each round's best repetition, median over the three rounds (139.47, 142.40, 121.03 for Tandem's decode).
        Assert.Equal(139.471, r.DecodeTandem!.Value, 3);
        Assert.Equal(103.789, r.DecodeNativeFaOff!.Value, 3);
        Assert.Equal(120.128, r.DecodeNativeFaOn!.Value, 3);
        Assert.Equal(799.990, r.PrefillTandem!.Value, 3);
        Assert.Null(r.DecodeBundle);
        // Per round against the faster native figure of that round (fa on in all three): 1.161, 1.158, 1.107.
        Assert.Equal(142.404 / 122.937, r.DecodeRatio!.Median, 3);
        Assert.Equal(121.028 / 109.3, r.DecodeRatio.Min, 3);
        Assert.Equal(139.471 / 120.128, r.DecodeRatio.Max, 3);

        // Median bandwidth of the three runs (52.0, 50.5, 53.0 GB/s) over the Q8_0 file's 143,701,668 bytes a token.
        Assert.Equal(52.0e9, r.ReadBandwidthBytesPerSec!.Value, 0);
        Assert.Equal(143_701_668L, r.WeightBytesPerToken);
        Assert.Equal(361.86, r.DecodeLimitTokPerSec!.Value, 2);
        Assert.Equal(100 * 139.471 / 361.86, r.TandemPercentOfLimit!.Value, 1);
        Assert.Equal(100 * 120.128 / 361.86, r.NativePercentOfLimit!.Value, 1);

        // Tandem's own peaks (310, 306, 312 MiB) and llama-bench's (250000, 262000, 255000 KiB).
        Assert.Equal(310L << 20, r.TandemPeakRssBytes);
        Assert.Equal(255_000L * 1024, r.NativePeakRssBytes);
    }

    [Fact]
    public void The_table_shows_the_limit_and_memory_beside_decode()
    {
        var text = new StringWriter();
        AnchorReport.Write(AnchorReport.Build(Fixture, "c392e5094")!, text);
        string output = text.ToString();

        Assert.Contains("| smollm-135m-q8_0.gguf | native | 800.0 | – | 595.1 ; 586.8 | **1.34** (1.34–1.36) " +
                        "| 139.5 | – | 103.8 ; 120.1 | **1.16** (1.11–1.16) | 361.9 | 39% ; 33% | 310 ; 249 |", output);
        Assert.Contains("native: read bandwidth 52.0 GB/s (median of 3 runs of Tandem's bench, 2 threads)", output);
        Assert.Contains("2 threads, KV f16, 3 rounds (A/B pairs) of 3 repetitions each", output);
        Assert.Contains("llama.cpp commit c392e5094;", output);
    }

    [Fact]
    public void The_json_carries_every_column()
    {
        string json = Path.Combine(TestPaths.NewTempDir(), "report.json");
        Assert.Equal(0, AnchorReport.Run(Fixture, "c392e5094", TextWriter.Null, json));

        var row = JsonNode.Parse(File.ReadAllText(json))!["rows"]![0]!;
        Assert.Equal(361.86, row["decode_limit_tok_per_sec"]!.GetValue<double>(), 2);
        Assert.Equal(143_701_668, row["weight_bytes_per_token"]!.GetValue<long>());
        Assert.Equal(255_000L * 1024, row["native_peak_rss_bytes"]!.GetValue<long>());
        Assert.Equal(1.158, row["decode_ratio"]!["median"]!.GetValue<double>(), 3);
    }

    [Fact]
    public void Reports_written_before_the_new_columns_still_give_the_published_table()
    {
        var text = new StringWriter();
        AnchorReport.Write(AnchorReport.Build(PublishedRun, "c392e5094deaf2d1a7c18683214f007fad3fe42b")!, text);
        var lines = text.ToString().Split('\n').Select(l => l.TrimEnd('\r')).ToList();

        var published = File.ReadAllLines(Path.Combine(PublishedRun, "report.md")).Where(l => l.StartsWith("| smollm", StringComparison.Ordinal)).ToList();
        Assert.Equal(3, published.Count);
        foreach (var row in published)
            Assert.Contains(lines, l => l == row + " – | – ; – | – ; – |");
    }

    [Fact]
    public void A_folder_without_reports_is_an_error()
    {
        Assert.Null(AnchorReport.Build(TestPaths.NewTempDir(), null));
        Assert.Equal(1, AnchorReport.Run(Path.Combine(TestPaths.NewTempDir(), "missing"), null, TextWriter.Null));
    }
}
