using System.Net;
using System.Text.Json;

namespace Tandem.Server.Tests;

/// <summary>
/// A cluster of real <c>tandem serve</c> processes on loopback: prefill and decode workers (each on one core) and a
/// frontend listing them, sharing a cluster token. Started when /health/ready says the frontend has a worker of each
/// role. Disposing kills every process still running (and stops the relay, if one stands in front of the first prefill worker).
/// </summary>
public sealed class LocalCluster : IDisposable
{
    public const string Token = "test-cluster-token";
    private static readonly TimeSpan ReadyLimit = TimeSpan.FromSeconds(60);

    private LocalCluster() { }

    public List<ServeProcess> Prefill { get; } = [];
    public List<ServeProcess> Decode { get; } = [];
    public ServeProcess Frontend { get; private set; } = null!;
    public HttpClient Http { get; private set; } = null!;
    public IEnumerable<ServeProcess> Workers => Prefill.Concat(Decode);
    /// <summary>The relay listed to the frontend in place of the first prefill worker (<c>Prefill[0]</c>), when one was asked for.</summary>
    public KvRelay? Relay { get; private set; }

    /// <param name="relay">
    /// Puts a relay (e.g. <see cref="HoldingKvRelay"/>) between the cluster and its first prefill worker: given the worker's
    /// address, it is listed to the frontend instead, so every call to that worker and KV pull from it goes through it; any
    /// other prefill worker is listed directly.
    /// </param>
    public static async Task<LocalCluster> StartAsync(int prefill, int decode, string[]? workerArguments = null, string[]? frontendArguments = null,
        string[]? decodeArguments = null, Func<string, Task<KvRelay>>? relay = null)
    {
        if (relay != null && prefill < 1) throw new ArgumentException("a relay stands in front of a prefill worker", nameof(relay));
        var cluster = new LocalCluster();
        try
        {
            // Started side by side: each spends its first seconds in the runtime's start-up and the model load.
            var prefills = Enumerable.Range(0, prefill).Select(i => StartWorkerAsync("prefill", i, workerArguments)).ToList();
            var decodes = Enumerable.Range(0, decode).Select(i => StartWorkerAsync("decode", prefill + i, [.. workerArguments ?? [], .. decodeArguments ?? []])).ToList();
            try
            {
                await Task.WhenAll(prefills.Concat(decodes));
            }
            finally
            {
                cluster.Prefill.AddRange(prefills.Where(t => t.IsCompletedSuccessfully).Select(t => t.Result));
                cluster.Decode.AddRange(decodes.Where(t => t.IsCompletedSuccessfully).Select(t => t.Result));
            }
            frontendArguments ??= [];
            if (relay != null) cluster.Relay = await relay(cluster.Prefill[0].Address.ToString().TrimEnd('/'));
            cluster.Frontend = await ServeProcess.StartAsync([
                "--role", "frontend", "--cluster-token", Token,
                // Generous by default: at load 50-90 (several builds beside the tests) heartbeats of healthy workers
                // missed a 2 s timeout and the 1+1 / 2+2 identity tests saw "no prefill worker is left". Tests of
                // failure detection pass their own short timeout.
                .. frontendArguments.Contains("--worker-timeout") ? [] : (string[])["--worker-timeout", "10"],
                "--prefill-workers", string.Join(",", cluster.Prefill.Select((p, i) => i == 0 && cluster.Relay != null ? cluster.Relay.HostPort : HostPort(p))),
                "--decode-workers", string.Join(",", cluster.Decode.Select(HostPort)),
                .. frontendArguments]);
            cluster.Http = new HttpClient { BaseAddress = cluster.Frontend.Address, Timeout = TimeSpan.FromMinutes(2) };
            await cluster.WaitReadyAsync();
            // Ready means the frontend's warm-up (its own prefill, pull and decode through the relay) is over: from here on
            // the relay's fault is for the test's requests. Tests that need it later or earlier call Intercept themselves.
            cluster.Relay?.Intercept();
            return cluster;
        }
        catch
        {
            cluster.Dispose();
            throw;
        }
    }

    /// <summary>A worker on core <paramref name="index"/> (modulo the cores), unless <paramref name="arguments"/> give --cores.</summary>
    public static Task<ServeProcess> StartWorkerAsync(string role, int index, string[]? arguments = null)
    {
        arguments ??= [];
        string[] cores = arguments.Contains("--cores") ? [] : ["--cores", (index % Environment.ProcessorCount).ToString()];
        return ServeProcess.StartAsync(["--role", role, "--cluster-token", Token, .. cores, .. arguments]);
    }

    public static string HostPort(ServeProcess p) => $"{p.Address.Host}:{p.Address.Port}";

    /// <summary>Waits until /health/ready answers 200 (a worker of each role joined the frontend).</summary>
    public Task WaitReadyAsync() => WaitReadyAsync(Http, Frontend);

    public static async Task WaitReadyAsync(HttpClient http, ServeProcess frontend)
    {
        var until = DateTime.UtcNow + ReadyLimit;
        while (true)
        {
            using var r = await http.GetAsync("/health/ready");
            if (r.StatusCode == HttpStatusCode.OK) return;
            if (DateTime.UtcNow > until) Assert.Fail($"the frontend never became ready: {await r.Content.ReadAsStringAsync()}\n{frontend.Stderr}");
            await Task.Delay(100);
        }
    }

    /// <summary>A worker's own /health.</summary>
    public static async Task<JsonElement> WorkerHealthAsync(ServeProcess worker)
    {
        using var http = new HttpClient { BaseAddress = worker.Address, Timeout = TimeSpan.FromSeconds(10) };
        return JsonDocument.Parse(await http.GetStringAsync("/health")).RootElement.Clone();
    }

    /// <summary>A worker's KV blocks used and KV held for pulls.</summary>
    public static async Task<(int Used, int Held)> WorkerKvAsync(ServeProcess worker)
    {
        var body = await WorkerHealthAsync(worker);
        return (body.GetProperty("kv_blocks_used").GetInt32(), body.GetProperty("kv_held").GetInt32());
    }

    /// <summary>One unlabelled-or-single-series value from a process's /metrics (e.g. the frontend's counters).</summary>
    public static async Task<double> MetricAsync(HttpClient http, string name)
    {
        string metrics = await http.GetStringAsync("/metrics");
        var line = metrics.Split('\n').Single(l => l.StartsWith(name + "{", StringComparison.Ordinal) || l.StartsWith(name + " ", StringComparison.Ordinal));
        return double.Parse(line[(line.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// Asserts every live worker's pool returns to zero used blocks and nothing held (within a bounded wait); a failure
    /// shows the end of every process's output (the frontend's included), where the request that kept the KV shows.
    /// </summary>
    public async Task AssertPoolsEmptyAsync(TimeSpan limit)
    {
        foreach (var w in Workers.Where(w => !w.HasExited))
            await AssertPoolEmptyAsync(w, limit, [Frontend, .. Workers.Where(o => o != w)]);
    }

    /// <summary>
    /// Asserts <paramref name="worker"/>'s pool returns to zero used blocks and nothing held (within a bounded wait); a
    /// failure shows the end of its output and of <paramref name="others"/>' (a once-seen "still holds 1 sequence" with
    /// no log to go by could not be explained).
    /// </summary>
    public static async Task AssertPoolEmptyAsync(ServeProcess worker, TimeSpan limit, params ServeProcess[] others)
    {
        var until = DateTime.UtcNow + limit;
        var kv = await WorkerKvAsync(worker);
        while (kv != (0, 0) && DateTime.UtcNow < until)
        {
            await Task.Delay(100);
            kv = await WorkerKvAsync(worker);
        }
        if (kv == (0, 0)) return;
        var message = new System.Text.StringBuilder($"worker {worker.Address} still uses {kv.Used} KV blocks and holds {kv.Held} sequences after {limit.TotalSeconds} s");
        foreach (var p in (ServeProcess[])[worker, .. others])
            message.Append($"\n--- {p.Address}{(p == worker ? " (this worker)" : "")}, the end of its output:\n{OutputTail(p)}");
        Assert.Fail(message.ToString());
    }

    /// <summary>The last <paramref name="lines"/> lines of a process's stdout (request log lines) and of its stderr (warnings, workers joining and lost).</summary>
    public static string OutputTail(ServeProcess process, int lines = 30) =>
        $"stdout:\n{Tail(process.Stdout, lines)}\nstderr:\n{Tail(process.Stderr, lines)}";

    private static string Tail(string text, int lines) => string.Join('\n', text.Split('\n', StringSplitOptions.RemoveEmptyEntries).TakeLast(lines));

    /// <summary>
    /// The one decode worker with a request waiting (/health "waiting"), when exactly one has: after a
    /// <see cref="HoldingKvRelay"/> holds the pull of a request sent alone, the worker that pulls it. The state lasts
    /// until the relay lets the pull go, so this is no race with the work.
    /// </summary>
    public async Task<ServeProcess> DecodeWorkerWaitingAsync()
    {
        var until = DateTime.UtcNow + ReadyLimit;
        while (true)
        {
            var waiting = new List<ServeProcess>();
            foreach (var d in Decode)
                if ((await WorkerHealthAsync(d)).GetProperty("waiting").GetInt32() > 0) waiting.Add(d);
            if (waiting.Count == 1) return waiting[0];
            Assert.True(waiting.Count == 0, $"{waiting.Count} decode workers have a request waiting; one was expected");
            if (DateTime.UtcNow > until) Assert.Fail("no decode worker shows the held pull's request waiting");
            await Task.Delay(20);
        }
    }

    public void Dispose()
    {
        Http?.Dispose();
        Frontend?.Dispose();
        foreach (var w in Workers) w.Dispose();
        (Relay as HoldingKvRelay)?.Release(); // a held pull would keep the relay's host from stopping
        Relay?.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }
}
