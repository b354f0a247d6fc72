using System.Net.Http.Json;
using System.Text.Json;

namespace Tandem.Cli.Tests;

/// <summary>generate and serve without <c>--model</c>: the model shipped beside the CLI, said on standard error.</summary>
public sealed class BundledModelTests
{
    [Fact]
    public void Generate_without_a_model_continues_with_the_bundled_one()
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = TandemApp.Run(["generate", "--prompt", "Once upon a time", "--temperature", "0", "-n", "24", "--threads", "1"], new CliConsole(o, e));
        Assert.True(code == 0, e.ToString());
        Assert.Contains($"using the bundled {ModelArgument.BundledFileName}", e.ToString());
        Assert.StartsWith(", there was a little girl named Lily.", o.ToString());
        // It is the very file of ../shared/models that ships (not a copy that drifted).
        Assert.Equal(File.ReadAllBytes(TestPaths.Model("stories260K.gguf")), File.ReadAllBytes(ModelArgument.BundledPath));
    }

    [Fact]
    public async Task Serve_without_a_model_answers_with_the_bundled_one()
    {
        await using var server = await ServeProcess.StartBareAsync(new Dictionary<string, string?>(), ["--mode", "colocated", "--cores-per-instance", "1"]);
        Assert.Equal("stories260K", await server.ModelIdAsync());
        using var response = await server.Http.PostAsJsonAsync("/v1/completions", new { model = "stories260K", prompt = "Once upon a time", max_tokens = 12, temperature = 0 });
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(response.IsSuccessStatusCode, body.ToString());
        Assert.StartsWith(", there was a little girl", body.GetProperty("choices")[0].GetProperty("text").GetString());
        Assert.Contains($"using the bundled {ModelArgument.BundledFileName}", server.Stderr);
    }
}
