#:project ../../src/Tandem.Server/Tandem.Server.csproj
#:property PublishAot=false
// What tracing costs a request (src/Tandem.Server/README.md, "Tracing"):
//
//   dotnet run -c Release bench/observability/tracing-overhead.cs -- MODEL.gguf OUT.json [REQUESTS=200] [TOKENS=16,128]
//
// A real server (Kestrel on loopback over a disaggregated runtime) answers REQUESTS completions one after another
// (max_tokens TOKENS, ignore_eos, greedy), with tracing off (no listener: what a server without --otlp-endpoint runs)
// and on (an in-process listener that records every Tandem and ASP.NET Core span, as the OpenTelemetry SDK does;
// the OTLP export itself, batched on the SDK's own thread, is left out). Reports, per condition and output length,
// requests/s, mean latency, bytes allocated per request (the whole process: Kestrel and HttpClient included, the
// same in both conditions) and spans per request. The bytes tracing adds per request should not grow with TOKENS:
// spans are per request and phase, never per token. Conditions alternate, after a warm-up; the load average is
// recorded before and after.
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using Tandem.Engine.Model;
using Tandem.Server;
using Tandem.Serving;

string modelPath = args[0];
string outPath = args[1];
int requests = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 200;
int[] lengths = (args.Length > 3 ? args[3] : "16,128").Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();

using var model = LanguageModel.Load(modelPath);
await using var engine = ServingRuntime.Start(new ServingOptions { Model = model, Mode = ServingMode.Disaggregated, OnWarning = _ => { } });
await using var server = TandemServer.Create(engine, new TandemServerOptions
{
    Port = 0,
    Api = new TandemApiOptions { ServedModelName = "m", StatsLogInterval = null },
    LogLevel = Microsoft.Extensions.Logging.LogLevel.Warning, // the per-request log line is not what is measured here
});
await server.StartAsync();
using var http = new HttpClient { BaseAddress = server.Address };
long spans = 0;
var rows = new List<Dictionary<string, object>>();
string loadBefore = LoadAverage();

foreach (int tokens in lengths)
{
    for (int round = 0; round < 2; round++)
    {
        foreach (bool traced in new[] { false, true })
        {
            using var listener = traced ? Listen() : null;
            await RunAsync(tokens, 20); // warm-up
            GC.Collect();
            GC.WaitForPendingFinalizers();
            long spansBefore = Interlocked.Read(ref spans);
            long allocated = GC.GetTotalAllocatedBytes(precise: true);
            var clock = Stopwatch.StartNew();
            await RunAsync(tokens, requests);
            double seconds = clock.Elapsed.TotalSeconds;
            long bytes = GC.GetTotalAllocatedBytes(precise: true) - allocated;
            var row = new Dictionary<string, object>
            {
                ["tokens"] = tokens, ["round"] = round, ["tracing"] = traced ? "on" : "off", ["requests"] = requests,
                ["requests_per_second"] = Math.Round(requests / seconds, 2),
                ["mean_latency_ms"] = Math.Round(seconds * 1000 / requests, 3),
                ["bytes_per_request"] = bytes / requests,
                ["spans_per_request"] = Math.Round((double)(Interlocked.Read(ref spans) - spansBefore) / requests, 2),
            };
            rows.Add(row);
            Console.WriteLine(string.Join("  ", row.Select(kv => $"{kv.Key}={kv.Value}")));
        }
    }
}
string loadAfter = LoadAverage();
Console.WriteLine($"load average before: {loadBefore}; after: {loadAfter}");
await File.WriteAllTextAsync(outPath, JsonSerializer.Serialize(new
{
    model = Path.GetFileName(modelPath), cores = Environment.ProcessorCount, load_average_before = loadBefore, load_average_after = loadAfter, rows,
}, new JsonSerializerOptions { WriteIndented = true }));
await server.StopAsync();

async Task RunAsync(int tokens, int count)
{
    for (int i = 0; i < count; i++)
    {
        using var reply = await http.PostAsJsonAsync("/v1/completions", new { model = "m", prompt = "Once upon a time", max_tokens = tokens, ignore_eos = true, temperature = 0 });
        reply.EnsureSuccessStatusCode();
        await reply.Content.ReadAsByteArrayAsync();
    }
}

ActivityListener Listen()
{
    var listener = new ActivityListener
    {
        ShouldListenTo = s => s.Name is "Tandem" or "Microsoft.AspNetCore",
        Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        ActivityStopped = _ => Interlocked.Increment(ref spans),
    };
    ActivitySource.AddActivityListener(listener);
    return listener;
}

static string LoadAverage() => File.Exists("/proc/loadavg") ? string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";
