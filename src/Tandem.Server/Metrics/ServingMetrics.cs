using System.Diagnostics.Metrics;
using Tandem.Engine.Generation;
using Tandem.Planning.Replanning;
using Tandem.Server.Generation;
using Tandem.Serving;

namespace Tandem.Server.Metrics;

/// <summary>
/// Metrics under vLLM's names (dashboards built for vLLM read them unchanged) plus Tandem's own for what vLLM has no
/// name for (per-instance KV blocks, KV transfer), as <see cref="System.Diagnostics.Metrics"/> instruments of a
/// <see cref="Meter"/> named "Tandem" (so OpenTelemetry, dotnet-counters and the like can read them too). Latencies
/// come from each finished request's <see cref="RequestTimeline"/>; gauges are read from
/// <see cref="IServingEngine.Snapshot"/> at every collection. /metrics is this meter's own Prometheus exposition
/// (<see cref="MeterCollector"/>, <see cref="PrometheusText"/>). Each server owns its meter, so several servers in
/// one process (tests) never mix their numbers.
/// </summary>
public sealed class ServingMetrics : IDisposable
{
    /// <summary>The meter's name, for an OpenTelemetry MeterProvider's AddMeter.</summary>
    public const string MeterName = "Tandem";

    // vLLM's TTFT buckets, extended down to 0.1 ms: tiny models on CPU answer far below vLLM's 1 ms floor.
    private static readonly double[] LatencyBuckets =
        [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75,
         1, 2.5, 5, 7.5, 10, 20, 40, 80, 160, 640, 2560];
    private static readonly double[] TokenCountBuckets =
        [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000];

    private readonly IServingEngine _engine;
    private readonly Replanner? _replanner;
    private readonly Meter _meter;
    private readonly MeterCollector _collector;
    private readonly KeyValuePair<string, object?> _model;

    private readonly Histogram<double> _ttft, _tpot, _itl, _prefill, _decode, _queue, _e2e, _transfer, _promptTokens, _generationTokens;
    private readonly Counter<long> _promptTokensTotal, _generationTokensTotal, _success, _transferBytes, _transferReused, _transfers, _preemptions;
    private readonly Counter<double> _transferSeconds;
    private readonly Counter<long> _refused, _timedOut, _responses;
    private readonly KeyValuePair<string, object?>[][] _responseTags;
    private long _promptTokensSum, _generationTokensSum, _finished;
    private long _excludedQueries, _excludedHits;

    public ServingMetrics(IServingEngine engine, string modelName, Replanner? replanner = null)
    {
        _engine = engine;
        _replanner = replanner;
        _model = new("model_name", modelName);
        _meter = new Meter(MeterName, typeof(ServingMetrics).Assembly.GetName().Version?.ToString());
        _collector = new MeterCollector(_meter);

        Histogram<double> H(string name, string unit, string help, double[] buckets) =>
            _meter.CreateHistogram(name, unit, help, tags: null, new InstrumentAdvice<double> { HistogramBucketBoundaries = buckets });
        Counter<long> C(string name, string unit, string help) => _meter.CreateCounter<long>(name, unit, help);

        // Instrument names spell the prefix with an underscore; /metrics shows vLLM's colon (PrometheusText says why).
        _ttft = H("vllm_time_to_first_token_seconds", "s", "Time to first token: first token time minus arrival.", LatencyBuckets);
        _tpot = H("vllm_time_per_output_token_seconds", "s", "Time per output token of each request: (last − first token time) / (tokens − 1).", LatencyBuckets);
        _itl = H("vllm_inter_token_latency_seconds", "s", "Gap between consecutive tokens of a request.", LatencyBuckets);
        _prefill = H("vllm_request_prefill_time_seconds", "s", "Time a request spent in prefill (prefill end − prefill start).", LatencyBuckets);
        _decode = H("vllm_request_decode_time_seconds", "s", "Time a request spent decoding (last − first token time).", LatencyBuckets);
        _queue = H("vllm_request_queue_time_seconds", "s", "Time a request waited before its prefill started.", LatencyBuckets);
        _e2e = H("vllm_e2e_request_latency_seconds", "s", "End-to-end request latency (end − arrival).", LatencyBuckets);
        _transfer = H("tandem_kv_transfer_time_seconds", "s", "Time to move a request's KV cache from its prefill to its decode instance.", LatencyBuckets);
        _promptTokens = H("vllm_request_prompt_tokens", "{token}", "Prompt tokens per request.", TokenCountBuckets);
        _generationTokens = H("vllm_request_generation_tokens", "{token}", "Generated tokens per request.", TokenCountBuckets);

        _promptTokensTotal = C("vllm_prompt_tokens_total", "{token}", "Prompt tokens processed.");
        _generationTokensTotal = C("vllm_generation_tokens_total", "{token}", "Tokens generated.");
        _success = C("vllm_request_success_total", "{request}", "Finished requests by finish reason.");
        _transferSeconds = _meter.CreateCounter<double>("tandem_kv_transfer_seconds_total", "s", "Seconds spent moving KV caches between instances.");
        _transferBytes = C("tandem_kv_transfer_bytes_total", "By", "KV cache bytes moved between instances.");
        _transferReused = C("tandem_kv_transfer_reused_tokens_total", "{token}", "Tokens of migrating KV the decode instance held in its prefix cache already, so not moved.");
        _preemptions = C("vllm_num_preemptions_total", "{preemption}", "Times a request lost its KV to preemption and was recomputed.");
        _transfers = C("tandem_kv_transfers_total", "{transfer}", "KV cache migrations between instances.");

        // vLLM's names and meaning: tokens looked up at admission and tokens found, summed over instances (read at
        // collection; a cluster frontend's instances are its workers). vLLM declares them as prometheus_client Counters
        // named vllm:prefix_cache_queries / _hits, and that library adds _total on the wire: these are the names scraped.
        _meter.CreateObservableCounter("vllm_prefix_cache_queries_total", () => Model(PrefixCacheQueries(Snapshot())), "{token}",
            "Prompt tokens looked up in the prefix cache when requests were admitted.");
        _meter.CreateObservableCounter("vllm_prefix_cache_hits_total", () => Model(PrefixCacheHits(Snapshot())), "{token}",
            "Prompt tokens found in the prefix cache (their KV reused, not computed).");

        // The KV disk tier (--kv-disk-dir), in blocks and bytes; present only when the server has one (a cluster
        // frontend: when a worker has one, summed over the workers).
        _meter.CreateObservableCounter("tandem_kv_disk_hits_total", () => Disk(d => d.Hits), "{block}", "KV blocks read back from the disk tier after a prefix lookup missed RAM.");
        _meter.CreateObservableCounter("tandem_kv_disk_misses_total", () => Disk(d => d.Misses), "{lookup}", "Prefix lookups that left RAM and found the next block not on disk (or unreadable).");
        _meter.CreateObservableCounter("tandem_kv_disk_corrupt_total", () => Disk(d => d.Corrupt), "{file}", "Disk-tier block files that failed their checks (truncated, corrupted, foreign): misses, deleted.");
        _meter.CreateObservableCounter("tandem_kv_disk_read_bytes_total", () => Disk(d => d.BytesRead), "By", "Bytes read back from the KV disk tier.");
        _meter.CreateObservableCounter("tandem_kv_disk_written_bytes_total", () => Disk(d => d.BytesWritten), "By", "Bytes of evicted KV blocks written to the disk tier.");
        _meter.CreateObservableCounter("tandem_kv_disk_writes_dropped_total", () => Disk(d => d.WritesDropped), "{block}", "Evicted KV blocks not written because the disk writer's queue was full.");
        _meter.CreateObservableCounter("tandem_kv_disk_evictions_total", () => Disk(d => d.Evictions), "{block}", "KV blocks deleted from the disk tier to stay within --kv-disk-size.");
        _meter.CreateObservableGauge("tandem_kv_disk_bytes", () => Disk(d => d.Bytes), "By", "Bytes of KV blocks stored in the disk tier.");
        _meter.CreateObservableGauge("tandem_kv_disk_blocks", () => Disk(d => d.Blocks), "{block}", "KV blocks stored in the disk tier.");

        _meter.CreateObservableGauge("vllm_num_requests_waiting", () => Model(Snapshot().RequestsWaiting), "{request}", "Requests waiting in instance queues.");
        _meter.CreateObservableGauge("vllm_num_requests_running", () => Model(Snapshot().RequestsRunning), "{request}", "Requests being prefilled or decoded.");
        _meter.CreateObservableGauge("vllm_kv_cache_usage_perc", () => Model(KvUsage(Snapshot())), "1", "Share of all KV blocks in use (0 to 1).");
        _meter.CreateObservableGauge("tandem_kv_blocks_used", () => PerInstance(i => i.KvBlocksUsed), "{block}", "KV blocks in use, per instance.");
        _meter.CreateObservableGauge("tandem_kv_blocks_total", () => PerInstance(i => i.KvBlocksTotal), "{block}", "KV blocks an instance holds.");
        _meter.CreateObservableGauge("tandem_instance_requests_waiting", () => PerInstance(i => i.Waiting), "{request}", "Requests waiting, per instance.");
        _meter.CreateObservableGauge("tandem_instance_requests_running", () => PerInstance(i => i.Running), "{request}", "Requests running, per instance.");

        _meter.CreateObservableGauge("tandem_plan_replans", () => Plan(p => p.Replans), "{replan}", "Re-plans run so far because the workload drifted from the plan.");
        _meter.CreateObservableGauge("tandem_plan_change_recommended", () => Plan(p => p.ChangeRecommended ? 1 : 0), "1", "1 when the latest re-plan recommends a placement other than the one running (GET /plan says which and why).");
        _meter.CreateObservableGauge("tandem_plan_recommended_devices", () => Plan(p => (p.Recommended ?? p.Current).Devices), "{device}", "Devices (cores) of the recommended placement; the running one's until a re-plan says otherwise.");
        _meter.CreateObservableGauge("tandem_workload_arrival_rate", () => Plan(p => p.Observed?.Rate ?? 0), "{request}/s", "Requests per second that arrived (and finished) in the re-planning window.");

        _refused = C("tandem_requests_refused_total", "{request}", "Requests refused by admission control (429), by reason: max_waiting_requests or slo_ttft.");
        _timedOut = C("tandem_requests_timed_out_total", "{request}", "Requests ended by --request-timeout (finish_reason abort).");
        _responses = C("tandem_http_responses_total", "{response}", "HTTP responses by status class (2xx, 4xx, 5xx ...), every route.");
        _meter.CreateObservableGauge("tandem_admission_waiting_requests", () => Model(AdmissionWaiting?.Invoke() ?? 0), "{request}", "Requests admitted and waiting for their first token (what --max-waiting-requests bounds).");
        _responseTags = [.. Enumerable.Range(1, 5).Select(c => new KeyValuePair<string, object?>[] { _model, new("status_class", $"{c}xx") })];

        // Series that exist from the start at 0, as vLLM's do: a rate() over them needs no first event, and a
        // dashboard shows 0 rather than "no data".
        foreach (var reason in new[] { "stop", "length", "abort" }) _success.Add(0, _model, new("finished_reason", reason));
        foreach (var tags in _responseTags) _responses.Add(0, tags);
        foreach (var reason in new[] { "max_waiting_requests", "slo_ttft" }) _refused.Add(0, _model, new("reason", reason));
        foreach (var counter in new[] { _promptTokensTotal, _generationTokensTotal, _transferBytes, _transferReused, _preemptions, _transfers, _timedOut }) counter.Add(0, _model);
        _transferSeconds.Add(0, _model);
    }

    /// <summary>Reads the admission controller's waiting count at each collection (set once by the API).</summary>
    internal Func<int>? AdmissionWaiting { get; set; }

    /// <summary>Prompt tokens of the requests finished so far (the periodic stats line's throughput).</summary>
    public long PromptTokens => Interlocked.Read(ref _promptTokensSum);
    /// <summary>Tokens generated by the requests finished so far.</summary>
    public long GenerationTokens => Interlocked.Read(ref _generationTokensSum);
    /// <summary>Requests finished so far, however they ended.</summary>
    public long FinishedRequests => Interlocked.Read(ref _finished);

    /// <summary>Writes the Prometheus text exposition with the names as vLLM spells them.</summary>
    public async Task WriteTextAsync(Stream destination, CancellationToken cancellation)
    {
        string text = PrometheusText.Write(_collector.Collect());
        await destination.WriteAsync(System.Text.Encoding.UTF8.GetBytes(text), cancellation);
    }

    /// <summary>Counts a 429 from admission control.</summary>
    public void CountRefusal(string reason) => _refused.Add(1, _model, new("reason", reason));

    /// <summary>Counts a request that --request-timeout ended.</summary>
    public void CountTimeout() => _timedOut.Add(1, _model);

    /// <summary>Counts a response by its status class once it has one (the middleware calls this for every request).</summary>
    public void CountResponse(int status)
    {
        int c = status / 100;
        if (c is >= 1 and <= 5) _responses.Add(1, _responseTags[c - 1]);
    }

    /// <summary>A request that failed (its completion faulted): it counts as aborted.</summary>
    public void ObserveFailure()
    {
        Interlocked.Increment(ref _finished);
        _success.Add(1, _model, new("finished_reason", FinishReasons.Abort));
    }

    /// <summary>Records a finished request's latencies and counts (cancelled requests only count as aborted).</summary>
    public void Observe(RequestOutcome outcome)
    {
        _replanner?.Observe(outcome);
        var t = outcome.Timeline;
        Interlocked.Add(ref _promptTokensSum, outcome.PromptTokens);
        Interlocked.Add(ref _generationTokensSum, outcome.CompletionTokens);
        Interlocked.Increment(ref _finished);
        _success.Add(1, _model, new("finished_reason", FinishReasons.ToApi(outcome.FinishReason)));
        _promptTokensTotal.Add(outcome.PromptTokens, _model);
        _preemptions.Add(outcome.Preemptions, _model);
        _transferBytes.Add(outcome.KvTransferBytes, _model);
        _transferReused.Add(outcome.KvReusedTokens, _model);
        _generationTokensTotal.Add(outcome.CompletionTokens, _model);
        if (outcome.FinishReason == FinishReason.Cancelled)
            return;

        _promptTokens.Record(outcome.PromptTokens, _model);
        _generationTokens.Record(outcome.CompletionTokens, _model);
        if (t.Ttft is double ttft) _ttft.Record(ttft, _model);
        if (t.Tpot is double tpot) _tpot.Record(tpot, _model);
        for (int i = 1; i < t.TokenTimes.Count; i++)
            _itl.Record(t.TokenTimes[i] - t.TokenTimes[i - 1], _model);
        if (t.TokenTimes.Count > 0) _decode.Record(t.TokenTimes[^1] - t.TokenTimes[0], _model);
        if (t is { PrefillStart: double ps, PrefillEnd: double pe }) _prefill.Record(pe - ps, _model);
        if (t.PrefillStart is double start) _queue.Record(start - (t.PrefillQueued ?? t.Arrival), _model);
        if (t.End is double end) _e2e.Record(end - t.Arrival, _model);
        if (t is { TransferStart: double ts, TransferEnd: double te })
        {
            _transfer.Record(te - ts, _model);
            _transferSeconds.Add(te - ts, _model);
            _transfers.Add(1, _model);
        }
    }

    /// <summary>
    /// The instances count prefix-cache lookups themselves, for every request they run; the server's warm-up requests
    /// (<see cref="Hosting.ServingWarmUp"/>) are not the clients', so the instances' counts when it ended are taken off
    /// what is reported.
    /// </summary>
    public void ExcludePrefixLookups(long queries, long hits)
    {
        Interlocked.Exchange(ref _excludedQueries, queries);
        Interlocked.Exchange(ref _excludedHits, hits);
    }

    /// <summary>Prompt tokens of client requests looked up in the prefix cache (vllm:prefix_cache_queries).</summary>
    public long PrefixCacheQueries(ServingSnapshot s) => Math.Max(0, s.Instances.Sum(i => i.PrefixCacheQueries) - Interlocked.Read(ref _excludedQueries));

    /// <summary>Of those, tokens found cached (vllm:prefix_cache_hits).</summary>
    public long PrefixCacheHits(ServingSnapshot s) => Math.Max(0, s.Instances.Sum(i => i.PrefixCacheHits) - Interlocked.Read(ref _excludedHits));

    /// <summary>Share of all KV blocks in use (0 to 1), over every instance.</summary>
    public static double KvUsage(ServingSnapshot s)
    {
        long used = 0, total = 0;
        foreach (var i in s.Instances)
        {
            used += i.KvBlocksUsed;
            total += i.KvBlocksTotal;
        }
        return total == 0 ? 0 : (double)used / total;
    }

    private ServingSnapshot Snapshot() => _engine.Snapshot();

    private Measurement<double> Model(double value) => new(value, _model);
    private Measurement<long> Model(long value) => new(value, _model);

    private IEnumerable<Measurement<double>> PerInstance(Func<InstanceSnapshot, double> value) =>
        Snapshot().Instances.Select(i => new Measurement<double>(value(i), _model, new("instance", i.Name), new("role", i.Role)));

    private IEnumerable<Measurement<double>> Plan(Func<ReplanStatus, double> value) =>
        _replanner?.Status is { } plan ? [Model(value(plan))] : [];

    private IEnumerable<Measurement<long>> Disk(Func<Tandem.Engine.KvCache.KvDiskStats, long> value) =>
        Snapshot().KvDisk is { } disk ? [Model(value(disk))] : [];

    public void Dispose()
    {
        _collector.Dispose();
        _meter.Dispose();
    }
}
