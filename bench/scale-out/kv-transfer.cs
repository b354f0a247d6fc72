#:project ../../src/Tandem.Server/Tandem.Server.csproj
#:property PublishAot=false
// KV transfer per request over each path between a prefill and a decode side (docs/experiments/scale-out.md):
//
//   dotnet run -c Release bench/scale-out/kv-transfer.cs -- MODEL.gguf OUT.json [LENGTHS=128,512,2048] [REPEATS=5] [PATH...]
//
// PATH (default: in-process grpc-loopback shm):
//   in-process     the in-process disaggregated runtime, one prefill instance on core 0, one decode instance on core 1
//   grpc-loopback  a prefill worker (core 0) and a decode worker (core 1) in this process, each behind its own Kestrel
//                  port, and a frontend calling them with gRPC: the decode worker pulls with PullKv over loopback
//   shm            the same, with the decode worker on --kv-transport shm: the payload goes through a file in /dev/shm
//   grpc-loopback+overlap, shm+overlap
//                  the same with the frontend's --kv-overlap: the Decode call starts when the prefill does, and the decode
//                  worker pulls each block as soon as its prompt chunk (PREFILL_TOKEN_TARGET tokens, default 512) is computed
//   LABEL=PREFILL/DECODE   worker processes started elsewhere (e.g. in network namespaces, by scale-out.sh), at
//                  host:port PREFILL and DECODE, with F16 KV: this process is their frontend (with --kv-overlap when
//                  LABEL ends in "+overlap")
//
// Same requests on every path (random prompt token ids of each length, OUTPUT output tokens forced with ignore_eos,
// greedy, F16 KV, one at a time, one warm-up per length not recorded). Reports each request's transfer time (timeline
// TransferStart..TransferEnd: in process the export + import; otherwise the decode worker's own measure of the pull,
// from asking the holder to the checksum verified), KV bytes, and end-to-end latency; OUTPUT comes from the
// environment (default 32). Also per request: TTFT, the time to the second token (the first decode step waits for the
// KV), and the exposed transfer: from the prefill's end (its KV held) to the KV imported on the decode side, the part of
// the transfer on the request's critical path (with overlap, what was not hidden behind the prefill), and its share of
// the end-to-end latency.
using System.Diagnostics;
using System.Text.Json;
using Tandem.Engine.KvCache;
using Tandem.Engine.Model;
using Tandem.Engine.Sampling;
using Tandem.Server.Cluster;
using Tandem.Serving;
using Tandem.Serving.Workers;

string modelPath = args[0];
string outPath = args[1];
int[] lengths = (args.Length > 2 ? args[2] : "128,512,2048").Split(',').Select(int.Parse).ToArray();
int repeats = args.Length > 3 ? int.Parse(args[3]) : 5;
string[] paths = args.Length > 4 ? args[4..] : ["in-process", "grpc-loopback", "shm"];
int outputTokens = int.TryParse(Environment.GetEnvironmentVariable("OUTPUT"), out int given) ? given : 32;
int prefillTarget = int.TryParse(Environment.GetEnvironmentVariable("PREFILL_TOKEN_TARGET"), out int target) ? target : new ServingOptions().PrefillTokenTarget;

using var model = LanguageModel.Load(modelPath);
var serving = new ServingOptions
{
    Model = model,
    KvElementType = KvElementType.F16,
    KvBytesPerInstance = 512L << 20,
    MaxContext = lengths.Max() + outputTokens + 16,
    InstanceCores = [[0], [1]],
    PrefillTokenTarget = prefillTarget,
    OnWarning = _ => { },
};
var rows = new List<Dictionary<string, object>>();

async Task RunAsync(string path, IServingEngine engine)
{
    var random = new Random(1);
    foreach (int n in lengths)
        for (int r = -1; r < repeats; r++) // r = -1: warm-up, not recorded
        {
            int[] prompt = Enumerable.Range(0, n).Select(_ => random.Next(3, model.Config.VocabSize)).ToArray();
            var handle = engine.Submit(new GenerationRequest { Id = $"{path}-{n}-{r}", PromptTokens = prompt, MaxTokens = outputTokens, IgnoreEos = true, Sampling = SamplingParams.Greedy });
            await foreach (var _ in handle.Tokens.ReadAllAsync()) { }
            var o = await handle.Completion;
            if (r < 0) continue;
            var t = o.Timeline;
            double transfer = t.TransferEnd!.Value - t.TransferStart!.Value;
            double exposed = Math.Max(0, t.TransferEnd!.Value - t.PrefillEnd!.Value);
            double e2e = t.End!.Value - t.Arrival;
            double second = t.TokenTimes[1] - t.Arrival;
            rows.Add(new()
            {
                ["path"] = path, ["prompt_tokens"] = n, ["kv_bytes"] = o.KvTransferBytes, ["transfer_s"] = transfer,
                ["ttft_s"] = t.Ttft!.Value, ["second_token_s"] = second, ["exposed_transfer_s"] = exposed, ["e2e_s"] = e2e,
                ["transfer_share"] = transfer / e2e, ["exposed_share"] = exposed / e2e,
                ["throughput_mb_s"] = o.KvTransferBytes / transfer / 1e6,
            });
            Console.WriteLine($"{path,-22} {n,5} tokens  KV {o.KvTransferBytes / 1e6,7:0.00} MB  transfer {transfer * 1000,8:0.0} ms ({o.KvTransferBytes / transfer / 1e6,7:0} MB/s)  " +
                $"exposed {exposed * 1000,7:0.0} ms  TTFT {t.Ttft!.Value * 1000,7:0} ms  2nd token {second * 1000,7:0} ms  e2e {e2e,6:0.00} s  share {transfer / e2e:P1} exposed {exposed / e2e:P1}");
        }
}

var token = new ClusterToken(Environment.GetEnvironmentVariable(ClusterToken.EnvironmentVariable) ?? "bench");

async Task ThroughFrontendAsync(string path, string prefillAddress, string decodeAddress, bool overlap = false)
{
    await using var frontend = new ClusterEngine(model, new ClusterEngineOptions
    {
        Token = token,
        PrefillWorkers = [prefillAddress],
        DecodeWorkers = [decodeAddress],
        MaxContext = serving.MaxContext,
        KvOverlap = overlap,
        Log = _ => { },
    });
    var wait = Stopwatch.StartNew();
    while (frontend.NotReadyReason != null && wait.Elapsed < TimeSpan.FromSeconds(60)) await Task.Delay(50);
    if (frontend.NotReadyReason is { } why) throw new InvalidOperationException($"{path}: {why} ({prefillAddress}, {decodeAddress})");
    await RunAsync(path, frontend);
}

async Task InThisProcessAsync(string path, KvTransport transport, bool overlap = false)
{
    await using var prefill = WorkerRuntime.Start(serving with { InstanceCores = [[0], [0]] }, WorkerRole.Prefill, TimeSpan.FromSeconds(30));
    await using var decode = WorkerRuntime.Start(serving with { InstanceCores = [[1], [1]] }, WorkerRole.Decode, TimeSpan.FromSeconds(30));
    await using var prefillServer = WorkerServer.Create(prefill, new WorkerServerOptions { Port = 0, Token = token });
    await using var decodeServer = WorkerServer.Create(decode, new WorkerServerOptions { Port = 0, Token = token, KvTransport = transport });
    await prefillServer.StartAsync();
    await decodeServer.StartAsync();
    await ThroughFrontendAsync(path, prefillServer.Address.Authority, decodeServer.Address.Authority, overlap);
}

foreach (string path in paths)
{
    Console.WriteLine($"{path}: load average {(File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "n/a")} before");
    switch (path)
    {
        case "in-process":
            await using (var inProcess = ServingRuntime.Start(serving with { Mode = ServingMode.Disaggregated }))
                await RunAsync(path, inProcess);
            break;
        case "grpc-loopback":
            await InThisProcessAsync(path, KvTransport.Grpc);
            break;
        case "shm":
            await InThisProcessAsync(path, KvTransport.Shm);
            break;
        case "grpc-loopback+overlap":
            await InThisProcessAsync(path, KvTransport.Grpc, overlap: true);
            break;
        case "shm+overlap":
            await InThisProcessAsync(path, KvTransport.Shm, overlap: true);
            break;
        default:
            var (label, workers) = (path[..path.IndexOf('=')], path[(path.IndexOf('=') + 1)..].Split('/'));
            await ThroughFrontendAsync(label, workers[0], workers[1], overlap: label.EndsWith("+overlap", StringComparison.Ordinal));
            break;
    }
}

string load = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "n/a";
var summary = rows.GroupBy(r => ((string)r["path"], (int)r["prompt_tokens"])).Select(g => new Dictionary<string, object>
{
    ["path"] = g.Key.Item1, ["prompt_tokens"] = g.Key.Item2, ["kv_bytes"] = g.First()["kv_bytes"],
    ["transfer_ms_median"] = Median(g.Select(r => (double)r["transfer_s"] * 1000)),
    ["throughput_mb_s_median"] = Median(g.Select(r => (double)r["throughput_mb_s"])),
    ["e2e_s_median"] = Median(g.Select(r => (double)r["e2e_s"])),
    ["transfer_share_median"] = Median(g.Select(r => (double)r["transfer_share"])),
    ["ttft_ms_median"] = Median(g.Select(r => (double)r["ttft_s"] * 1000)),
    ["second_token_ms_median"] = Median(g.Select(r => (double)r["second_token_s"] * 1000)),
    ["exposed_transfer_ms_median"] = Median(g.Select(r => (double)r["exposed_transfer_s"] * 1000)),
    ["exposed_share_median"] = Median(g.Select(r => (double)r["exposed_share"])),
}).ToList();
File.WriteAllText(outPath, JsonSerializer.Serialize(new Dictionary<string, object>
{
    ["model"] = Path.GetFileName(modelPath), ["output_tokens"] = outputTokens, ["paths"] = paths, ["repeats"] = repeats, ["kv_type"] = "f16", ["prefill_token_target"] = prefillTarget,
    ["loadavg_at_end"] = load, ["summary"] = summary, ["requests"] = rows,
}, new JsonSerializerOptions { WriteIndented = true }));
Console.WriteLine($"load average at end: {load}; wrote {outPath}");

static double Median(IEnumerable<double> values)
{
    var v = values.OrderBy(x => x).ToArray();
    return v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
}
