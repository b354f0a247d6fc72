using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace Tandem.Server.Tests;

/// <summary>
/// A streamed completion read as its events arrive, so a test can tell how much of it had come when something else
/// happened (<see cref="Chunks"/>, <see cref="Reached"/>); <see cref="Result"/> is its text and finish reason as
/// <see cref="ClusterWorkload.RunAsync"/> gives them.
/// </summary>
public sealed class WatchedCompletion
{
    private readonly object _gate = new();
    private readonly List<(int Chunks, TaskCompletionSource Reached)> _waiters = [];
    private int _chunks;
    private bool _ended;

    private WatchedCompletion() { }

    /// <summary>Chunks (data events other than [DONE], one per streamed token here) received so far.</summary>
    public int Chunks { get { lock (_gate) return _chunks; } }

    public Task<(string Text, string? Finish)> Result { get; private set; } = null!;

    public static WatchedCompletion Start(HttpClient http, JsonObject body)
    {
        var watched = new WatchedCompletion();
        watched.Result = watched.RunAsync(http, body);
        return watched;
    }

    /// <summary>Completes once <paramref name="chunks"/> chunks have arrived, or the stream has ended (whichever is first).</summary>
    public Task Reached(int chunks)
    {
        lock (_gate)
        {
            if (_chunks >= chunks || _ended) return Task.CompletedTask;
            var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((chunks, reached));
            return reached.Task;
        }
    }

    private async Task<(string Text, string? Finish)> RunAsync(HttpClient http, JsonObject body)
    {
        var events = new List<string>();
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/completions") { Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json") };
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            while (await reader.ReadLineAsync() is { } line)
            {
                if (!line.StartsWith("data: ", StringComparison.Ordinal)) continue;
                string data = line["data: ".Length..];
                events.Add(data);
                if (data != "[DONE]") Arrived();
            }
        }
        finally
        {
            End();
        }
        return ClusterWorkload.Result(body, events);
    }

    private void Arrived()
    {
        lock (_gate)
        {
            _chunks++;
            _waiters.RemoveAll(w => w.Chunks <= _chunks && w.Reached.TrySetResult());
        }
    }

    private void End()
    {
        lock (_gate)
        {
            _ended = true;
            foreach (var w in _waiters) w.Reached.TrySetResult();
            _waiters.Clear();
        }
    }
}
