using Tandem.Engine.Tests;
using Tandem.Planning.Profiles;

namespace Tandem.Planning.Tests;

public class EngineProfilerTests
{
    [Fact]
    public void Quick_profile_of_stories260K_is_a_valid_profile_with_finite_fit_error()
    {
        var lines = new List<string>();
        var p = EngineProfiler.Run(new ProfilerOptions { ModelPath = TestPaths.Model("stories260K.gguf"), Cores = [1, 2], Quick = true, Pin = false }, lines.Add);
        Assert.Equal(new[] { 1, 2 }, p.Configs.Select(c => c.Tp));
        Assert.Equal("stories260K.gguf", p.Model);
        Assert.True(p.KvBytesPerToken > 0);
        foreach (var c in p.Configs)
        {
            foreach (var e in new[] { c.PrefillFit!, c.DecodeFit! })
            {
                Assert.True(e.HeldOutPoints > 0);
                Assert.True(double.IsFinite(e.MeanRelativeError) && double.IsFinite(e.MaxRelativeError));
            }
            Assert.True(double.IsFinite(c.PrefillSeconds(64, 64 * 64)) && double.IsFinite(c.DecodeSeconds(256, 4)));
        }
        Assert.Contains(lines, l => l.Contains("prefill fit error"));
        // What it writes, the simulator reads back.
        string path = Path.Combine(TestPaths.NewTempDir(), "p.json");
        LatencyProfileJson.Write(path, p);
        Assert.Equal(LatencyProfileJson.Serialize(p), LatencyProfileJson.Serialize(LatencyProfileJson.Read(path)));
    }
}
