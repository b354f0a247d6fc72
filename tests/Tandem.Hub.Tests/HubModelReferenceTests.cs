namespace Tandem.Hub.Tests;

public sealed class HubModelReferenceTests
{
    [Theory]
    [InlineData("hf:org/repo", "org/repo", null, null)]
    [InlineData("hf:bartowski/Qwen2.5-0.5B-Instruct-GGUF:Q8_0", "bartowski/Qwen2.5-0.5B-Instruct-GGUF", "Q8_0", null)]
    [InlineData("hf:org/repo/sub/model-f16.gguf", "org/repo", null, "sub/model-f16.gguf")]
    [InlineData("HF:org/repo:q4_k_m", "org/repo", "q4_k_m", null)]
    public void Parses_the_forms_llama_cpp_takes(string text, string repo, string? quant, string? file)
    {
        var r = HubModelReference.Parse(text);
        Assert.Equal(new HubModelReference(repo, quant, file), r);
    }

    [Theory]
    [InlineData("hf:repo-only")]
    [InlineData("hf:org/repo:")]
    [InlineData("hf:org/repo/readme.md")]
    [InlineData("hf:org/repo/../x.gguf")]
    [InlineData("hf:/repo")]
    public void Refuses_malformed_references_with_the_accepted_forms(string text)
    {
        var e = Assert.Throws<HubException>(() => HubModelReference.Parse(text));
        Assert.Contains("hf:ORG/REPO", e.Message.Replace("hf:org/repo", "hf:ORG/REPO", StringComparison.Ordinal));
    }

    [Fact]
    public void Settings_come_from_the_variables_huggingface_hub_reads()
    {
        var env = new Dictionary<string, string>
        {
            ["HF_HOME"] = "/data/hf",
            ["HF_ENDPOINT"] = "http://mirror.example:8080/",
            ["HF_TOKEN"] = "hf_abc",
            ["HF_HUB_OFFLINE"] = "1",
        };
        var s = HubSettings.FromEnvironment(n => env.GetValueOrDefault(n));
        Assert.Equal("http://mirror.example:8080", s.Endpoint);
        Assert.Equal(Path.Combine("/data/hf", "hub"), s.CacheDirectory);
        Assert.Equal("hf_abc", s.Token);
        Assert.True(s.Offline);

        var defaults = HubSettings.FromEnvironment(n => n == "HOME" ? "/home/u" : null);
        Assert.Equal(HubSettings.DefaultEndpoint, defaults.Endpoint);
        Assert.EndsWith(Path.Combine(".cache", "huggingface", "hub"), defaults.CacheDirectory);
        Assert.False(defaults.Offline);
        Assert.Equal("/cache", HubSettings.FromEnvironment(n => n == "HF_HUB_CACHE" ? "/cache" : null).CacheDirectory);
    }
}
