using System.Net;
using System.Net.Http.Headers;

namespace Tandem.Server.Tests;

/// <summary><c>tandem serve</c>'s access options, end to end in a real process: keys from a file and from TANDEM_API_KEY.</summary>
public sealed class ServeAccessTests
{
    [Fact]
    public async Task Keys_from_the_file_and_the_environment_are_accepted_and_nothing_else()
    {
        string file = Path.Combine(Path.GetTempPath(), $"tandem-keys-{Guid.NewGuid():N}.txt");
        await File.WriteAllLinesAsync(file, ["# team keys", "sk-file-one", "", "  sk-file-two  "]);
        try
        {
            using var server = await ServeProcess.StartAsync(new Dictionary<string, string> { ["TANDEM_API_KEY"] = "sk-from-env" },
                "--mode", "colocated", "--api-key-file", file, "--metrics-api-key", "sk-metrics");
            using var http = new HttpClient { BaseAddress = server.Address };
            async Task<HttpStatusCode> Models(string? key)
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/models");
                if (key is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
                using var response = await http.SendAsync(request);
                return response.StatusCode;
            }
            foreach (var key in new[] { "sk-file-one", "sk-file-two", "sk-from-env" })
                Assert.Equal(HttpStatusCode.OK, await Models(key));
            foreach (var key in new[] { null, "# team keys", "sk-metrics", "sk-file-on" })
                Assert.Equal(HttpStatusCode.Unauthorized, await Models(key));
            using var health = await http.GetAsync("/health");
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
            using var metrics = await http.GetAsync("/metrics");
            Assert.Equal(HttpStatusCode.Unauthorized, metrics.StatusCode);
        }
        finally
        {
            File.Delete(file);
        }
    }
}
