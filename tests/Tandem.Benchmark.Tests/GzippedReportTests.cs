using System.IO.Compression;
using System.Text.Json;
using Tandem.Benchmark.Plots;
using Tandem.Benchmark.Reports;

namespace Tandem.Benchmark.Tests;

/// <summary>One real report, written by <c>tandem bench serve --out</c> against the fake server, plain and gzipped.</summary>
public sealed class BenchReportFileFixture : IAsyncLifetime
{
    public string Dir { get; } = TestPaths.NewTempDir();
    public string Plain => Path.Combine(Dir, "r.json");

    /// <summary>As the committed reports were made: the plain file through gzip, renamed NAME.json.gz.</summary>
    public string Gzipped => Plain + ".gz";

    public async Task InitializeAsync()
    {
        await using var server = await FakeOpenAiServer.StartAsync((others, _) => new FakePlan(0.02 + 0.02 * others, 0.1 + 0.02 * others));
        var (code, _, stderr) = CliTests.Run("bench", "serve", "--base-url", server.BaseUrl.ToString(), "--model", FakeOpenAiServer.ModelName,
            "--input-len", "8", "--output-len", "3", "-n", "6", "--rates", "5,20", "--seed", "1", "--warmup", "0",
            "--slo-ttft", "0.08", "--slo-tpot", "1", "--out", Plain);
        Assert.True(code == 0, stderr);
        await using var from = File.OpenRead(Plain);
        await using var to = new GZipStream(File.Create(Gzipped), CompressionLevel.SmallestSize);
        await from.CopyToAsync(to);
    }

    public Task DisposeAsync() => Task.CompletedTask;
}

/// <summary>Raw reports are committed gzipped (each holds every request's token times: megabytes). A gzipped report
/// must load and plot exactly as its plain original, told by gzip's magic bytes whatever its name, and a damaged one
/// is refused with the usual one-line error naming the file.</summary>
public class GzippedReportTests(BenchReportFileFixture report) : IClassFixture<BenchReportFileFixture>
{
    private static readonly string[] Figures = ["attainment.png", "latency-cdf.png", "slo-scale.png"];

    private static string Canonical(string path) => JsonSerializer.Serialize(BenchReportJson.Read(path), BenchReportJson.Options);

    [Fact]
    public void GzippedReportLoadsAndPlotsAsThePlainOne()
    {
        string dir = TestPaths.NewTempDir();
        string expected = Canonical(report.Plain);
        Assert.Contains("\"requests\"", expected);

        // Gzipped content under a plain name: the magic bytes decide, not the name.
        string misnamed = Path.Combine(dir, "misnamed.json");
        File.Copy(report.Gzipped, misnamed);
        Assert.Equal(expected, Canonical(report.Gzipped));
        Assert.Equal(expected, Canonical(misnamed));

        // As 'bench serve --out NAME.json.gz' writes one.
        string written = Path.Combine(dir, "written.json.gz");
        BenchReportJson.Write(written, BenchReportJson.Read(report.Plain));
        Assert.Equal([0x1f, 0x8b], File.ReadAllBytes(written)[..2]);
        Assert.True(new FileInfo(written).Length < new FileInfo(report.Plain).Length / 2, "a gzipped report should be far smaller than the plain one");
        Assert.Equal(expected, Canonical(written));

        foreach (var (name, path) in new[] { ("plain", report.Plain), ("gzipped", report.Gzipped) })
        {
            var (code, _, stderr) = CliTests.Run("bench", "plot", path, "--out-dir", Path.Combine(dir, name));
            Assert.True(code == 0, stderr);
        }
        PngAssert.IsPng(Path.Combine(dir, "plain", "attainment.png"), BenchPlots.DefaultWidth, BenchPlots.DefaultHeight);
        foreach (string figure in Figures)
            Assert.Equal(File.ReadAllBytes(Path.Combine(dir, "plain", figure)), File.ReadAllBytes(Path.Combine(dir, "gzipped", figure)));
    }

    [Theory]
    [InlineData("truncated")]
    [InlineData("bad block type")]
    [InlineData("bad checksum")]
    public void DamagedGzippedReportIsRefusedWithTheUsualError(string damage)
    {
        byte[] bytes = File.ReadAllBytes(report.Gzipped);
        switch (damage)
        {
            case "truncated":
                bytes = bytes[..(bytes.Length / 2)];
                break;
            case "bad block type":
                bytes[10] |= 0b110; // the first deflate block header after gzip's 10-byte header: type 3 is reserved
                break;
            default:
                bytes[^8] ^= 0xff; // the CRC-32 of the whole text, in gzip's 8-byte trailer: every byte inflates fine
                break;
        }
        string path = Path.Combine(TestPaths.NewTempDir(), "damaged.json.gz");
        File.WriteAllBytes(path, bytes);

        var (code, _, stderr) = CliTests.Run("bench", "plot", path);
        Assert.Equal(1, code);
        Assert.StartsWith($"error: {path}: not a tandem bench report", stderr);
    }
}
