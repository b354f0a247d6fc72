using Prometheus;
using Tandem.Engine.Generation;
using Tandem.Planning.Replanning;
using Tandem.Server.Generation;
using Tandem.Serving;

namespace Tandem.Server.Metrics;

/// <summary>
/// Prometheus metrics under vLLM's names (dashboards built for vLLM read them unchanged) plus Tandem's own for
/// what vLLM has no name for (per-instance KV blocks, KV transfer). Latencies come from each finished request's
/// <see cref="RequestTimeline"/>; gauges are read from <see cref="IServingEngine.Snapshot"/> at every scrape.
/// Each server owns its registry, so several servers in one process (tests) never mix their numbers.
/// </summary>
public sealed class ServingMetrics
{
    // vLLM's TTFT buckets, extended down to 0.1 ms: tiny models on CPU answer far below vLLM's 1 ms floor.
    private static readonly double[] LatencyBuckets =
        [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75,
         1, 2.5, 5, 7.5, 10, 20, 40, 80, 160, 640, 2560];
    private static readonly double[] TokenCountBuckets =
        [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000];

    private readonly IServingEngine _engine;
    private readonly string _model;
    private readonly Replanner? _replanner;

    private readonly Histogram _ttft, _tpot, _itl, _prefill, _decode, _queue, _e2e, _transfer, _promptTokens, _generationTokens;
    private readonly Counter _promptTokensTotal, _generationTokensTotal, _success, _transferSeconds, _transferBytes, _transfers, _preemptions;
    private readonly Counter _prefixQueries, _prefixHits;
    private readonly Counter _diskHits, _diskMisses, _diskCorrupt, _diskRead, _diskWritten, _diskDropped, _diskEvictions;
    private readonly Gauge _diskBytes, _diskBlocks;
    private readonly Gauge _waiting, _running, _kvUsage, _kvUsed, _kvTotal, _instanceWaiting, _instanceRunning;
    private readonly Gauge _replans, _changeRecommended, _recommendedDevices, _observedRate;
    private readonly Counter _refused, _timedOut, _responses;
    private readonly Gauge _admittedWaiting;
    private readonly Counter.Child[] _responsesByClass;

    public ServingMetrics(IServingEngine engine, string modelName, Replanner? replanner = null)
    {
        _engine = engine;
        _model = modelName;
        _replanner = replanner;
        Registry = Prometheus.Metrics.NewCustomRegistry();
        var f = Prometheus.Metrics.WithCustomRegistry(Registry);
        string[] model = ["model_name"];
        string[] instance = ["model_name", "instance", "role"];

        Histogram H(string name, string help, double[] buckets) =>
            f.CreateHistogram(Registered(name), help, model, new HistogramConfiguration { Buckets = buckets });

        _ttft = H("vllm:time_to_first_token_seconds", "Time to first token: first token time minus arrival.", LatencyBuckets);
        _tpot = H("vllm:time_per_output_token_seconds", "Time per output token of each request: (last − first token time) / (tokens − 1).", LatencyBuckets);
        _itl = H("vllm:inter_token_latency_seconds", "Gap between consecutive tokens of a request.", LatencyBuckets);
        _prefill = H("vllm:request_prefill_time_seconds", "Time a request spent in prefill (prefill end − prefill start).", LatencyBuckets);
        _decode = H("vllm:request_decode_time_seconds", "Time a request spent decoding (last − first token time).", LatencyBuckets);
        _queue = H("vllm:request_queue_time_seconds", "Time a request waited before its prefill started.", LatencyBuckets);
        _e2e = H("vllm:e2e_request_latency_seconds", "End-to-end request latency (end − arrival).", LatencyBuckets);
        _transfer = H("tandem:kv_transfer_time_seconds", "Time to move a request's KV cache from its prefill to its decode instance.", LatencyBuckets);
        _promptTokens = H("vllm:request_prompt_tokens", "Prompt tokens per request.", TokenCountBuckets);
        _generationTokens = H("vllm:request_generation_tokens", "Generated tokens per request.", TokenCountBuckets);

        _promptTokensTotal = f.CreateCounter(Registered("vllm:prompt_tokens_total"), "Prompt tokens processed.", model);
        _generationTokensTotal = f.CreateCounter(Registered("vllm:generation_tokens_total"), "Tokens generated.", model);
        _success = f.CreateCounter(Registered("vllm:request_success_total"), "Finished requests by finish reason.", ["model_name", "finished_reason"]);
        _transferSeconds = f.CreateCounter(Registered("tandem:kv_transfer_seconds_total"), "Seconds spent moving KV caches between instances.", model);
        _transferBytes = f.CreateCounter(Registered("tandem:kv_transfer_bytes_total"), "KV cache bytes moved between instances.", model);
        _preemptions = f.CreateCounter(Registered("vllm:num_preemptions_total"), "Times a request lost its KV to preemption and was recomputed.", model);
        _transfers = f.CreateCounter(Registered("tandem:kv_transfers_total"), "KV cache migrations between instances.", model);

        // vLLM's names and meaning: tokens looked up at admission and tokens found, summed over instances (read at scrape).
        _prefixQueries = f.CreateCounter(Registered("vllm:prefix_cache_queries"), "Prompt tokens looked up in the prefix cache when requests were admitted.", model);
        _prefixHits = f.CreateCounter(Registered("vllm:prefix_cache_hits"), "Prompt tokens found in the prefix cache (their KV reused, not computed).", model);

        // The KV disk tier (--kv-disk-dir), in blocks and bytes; present only when the server has one.
        _diskHits = f.CreateCounter(Registered("tandem:kv_disk_hits_total"), "KV blocks read back from the disk tier after a prefix lookup missed RAM.", model);
        _diskMisses = f.CreateCounter(Registered("tandem:kv_disk_misses_total"), "Prefix lookups that left RAM and found the next block not on disk (or unreadable).", model);
        _diskCorrupt = f.CreateCounter(Registered("tandem:kv_disk_corrupt_total"), "Disk-tier block files that failed their checks (truncated, corrupted, foreign): misses, deleted.", model);
        _diskRead = f.CreateCounter(Registered("tandem:kv_disk_read_bytes_total"), "Bytes read back from the KV disk tier.", model);
        _diskWritten = f.CreateCounter(Registered("tandem:kv_disk_written_bytes_total"), "Bytes of evicted KV blocks written to the disk tier.", model);
        _diskDropped = f.CreateCounter(Registered("tandem:kv_disk_writes_dropped_total"), "Evicted KV blocks not written because the disk writer's queue was full.", model);
        _diskEvictions = f.CreateCounter(Registered("tandem:kv_disk_evictions_total"), "KV blocks deleted from the disk tier to stay within --kv-disk-size.", model);
        _diskBytes = f.CreateGauge(Registered("tandem:kv_disk_bytes"), "Bytes of KV blocks stored in the disk tier.", model);
        _diskBlocks = f.CreateGauge(Registered("tandem:kv_disk_blocks"), "KV blocks stored in the disk tier.", model);

        _waiting = f.CreateGauge(Registered("vllm:num_requests_waiting"), "Requests waiting in instance queues.", model);
        _running = f.CreateGauge(Registered("vllm:num_requests_running"), "Requests being prefilled or decoded.", model);
        _kvUsage = f.CreateGauge(Registered("vllm:kv_cache_usage_perc"), "Share of all KV blocks in use (0 to 1).", model);
        _kvUsed = f.CreateGauge(Registered("tandem:kv_blocks_used"), "KV blocks in use, per instance.", instance);
        _kvTotal = f.CreateGauge(Registered("tandem:kv_blocks_total"), "KV blocks an instance holds.", instance);
        _instanceWaiting = f.CreateGauge(Registered("tandem:instance_requests_waiting"), "Requests waiting, per instance.", instance);
        _instanceRunning = f.CreateGauge(Registered("tandem:instance_requests_running"), "Requests running, per instance.", instance);

        _replans = f.CreateGauge(Registered("tandem:plan_replans"), "Re-plans run so far because the workload drifted from the plan.", model);
        _changeRecommended = f.CreateGauge(Registered("tandem:plan_change_recommended"), "1 when the latest re-plan recommends a placement other than the one running (GET /plan says which and why).", model);
        _recommendedDevices = f.CreateGauge(Registered("tandem:plan_recommended_devices"), "Devices (cores) of the recommended placement; the running one's until a re-plan says otherwise.", model);
        _observedRate = f.CreateGauge(Registered("tandem:workload_arrival_rate"), "Requests per second that arrived (and finished) in the re-planning window.", model);

        _refused = f.CreateCounter(Registered("tandem:requests_refused_total"), "Requests refused by admission control (429), by reason: max_waiting_requests or slo_ttft.", ["model_name", "reason"]);
        _timedOut = f.CreateCounter(Registered("tandem:requests_timed_out_total"), "Requests ended by --request-timeout (finish_reason abort).", model);
        _responses = f.CreateCounter(Registered("tandem:http_responses_total"), "HTTP responses by status class (2xx, 4xx, 5xx ...), every route.", ["model_name", "status_class"]);
        _admittedWaiting = f.CreateGauge(Registered("tandem:admission_waiting_requests"), "Requests admitted and waiting for their first token (what --max-waiting-requests bounds).", model);
        _responsesByClass = [.. Enumerable.Range(1, 5).Select(c => _responses.WithLabels(_model, $"{c}xx"))];

        Registry.AddBeforeCollectCallback(UpdateGauges);
    }

    public CollectorRegistry Registry { get; }

    /// <summary>Reads the admission controller's waiting count at each scrape (set once by the API).</summary>
    internal Func<int>? AdmissionWaiting { get; set; }

    /// <summary>
    /// Writes the Prometheus text exposition with the names as vLLM spells them. prometheus-net refuses colons in
    /// names (it keeps them for recording rules), though the exposition format allows them; so the collectors are
    /// registered as <c>vllm_x</c> / <c>tandem_x</c> and the prefix's underscore becomes the colon here.
    /// </summary>
    public async Task WriteTextAsync(Stream destination, CancellationToken cancellation)
    {
        using var buffer = new MemoryStream();
        await Registry.CollectAndExportAsTextAsync(buffer, cancellation);
        string text = System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
        var output = new System.Text.StringBuilder(text.Length);
        foreach (var line in text.AsSpan().EnumerateLines())
        {
            if (line.IsEmpty) continue;
            int nameStart = line.StartsWith("# HELP ") || line.StartsWith("# TYPE ") ? 7 : line.StartsWith("#") ? -1 : 0;
            if (nameStart >= 0 && TryPrefix(line[nameStart..], out int prefixLength))
            {
                output.Append(line[..(nameStart + prefixLength)]).Append(':').Append(line[(nameStart + prefixLength + 1)..]);
            }
            else
            {
                output.Append(line);
            }
            output.Append('\n');
        }
        await destination.WriteAsync(System.Text.Encoding.UTF8.GetBytes(output.ToString()), cancellation);

        static bool TryPrefix(ReadOnlySpan<char> name, out int length)
        {
            length = name.StartsWith("vllm_") ? 4 : name.StartsWith("tandem_") ? 6 : 0;
            return length > 0;
        }
    }

    /// <summary>Counts a 429 from admission control.</summary>
    public void CountRefusal(string reason) => _refused.WithLabels(_model, reason).Inc();

    /// <summary>Counts a request that --request-timeout ended.</summary>
    public void CountTimeout() => _timedOut.WithLabels(_model).Inc();

    /// <summary>Counts a response by its status class once it has one (the middleware calls this for every request).</summary>
    public void CountResponse(int status)
    {
        int c = status / 100;
        if (c is >= 1 and <= 5) _responsesByClass[c - 1].Inc();
    }

    private static string Registered(string exposedName) => exposedName.Replace(':', '_');

    /// <summary>Records the request's latencies and counts once it ends (cancelled requests only count as aborted).</summary>
    public void Track(RequestHandle handle) =>
        handle.Completion.ContinueWith(t =>
        {
            if (t.IsCompletedSuccessfully)
                Observe(t.Result);
            else
                _success.WithLabels(_model, FinishReasons.Abort).Inc(); // also observes the fault, so it is never unobserved
        }, TaskScheduler.Default);

    public void Observe(RequestOutcome outcome)
    {
        _replanner?.Observe(outcome);
        var t = outcome.Timeline;
        _success.WithLabels(_model, FinishReasons.ToApi(outcome.FinishReason)).Inc();
        _promptTokensTotal.WithLabels(_model).Inc(outcome.PromptTokens);
        _preemptions.WithLabels(_model).Inc(outcome.Preemptions);
        _transferBytes.WithLabels(_model).Inc(outcome.KvTransferBytes);
        _generationTokensTotal.WithLabels(_model).Inc(outcome.CompletionTokens);
        if (outcome.FinishReason == FinishReason.Cancelled)
            return;

        _promptTokens.WithLabels(_model).Observe(outcome.PromptTokens);
        _generationTokens.WithLabels(_model).Observe(outcome.CompletionTokens);
        if (t.Ttft is double ttft) _ttft.WithLabels(_model).Observe(ttft);
        if (t.Tpot is double tpot) _tpot.WithLabels(_model).Observe(tpot);
        var itl = _itl.WithLabels(_model);
        for (int i = 1; i < t.TokenTimes.Count; i++)
            itl.Observe(t.TokenTimes[i] - t.TokenTimes[i - 1]);
        if (t.TokenTimes.Count > 0) _decode.WithLabels(_model).Observe(t.TokenTimes[^1] - t.TokenTimes[0]);
        if (t is { PrefillStart: double ps, PrefillEnd: double pe }) _prefill.WithLabels(_model).Observe(pe - ps);
        if (t.PrefillStart is double start) _queue.WithLabels(_model).Observe(start - (t.PrefillQueued ?? t.Arrival));
        if (t.End is double end) _e2e.WithLabels(_model).Observe(end - t.Arrival);
        if (t is { TransferStart: double ts, TransferEnd: double te })
        {
            _transfer.WithLabels(_model).Observe(te - ts);
            _transferSeconds.WithLabels(_model).Inc(te - ts);
            _transfers.WithLabels(_model).Inc();
        }
    }

    private void UpdateGauges()
    {
        var s = _engine.Snapshot();
        _waiting.WithLabels(_model).Set(s.RequestsWaiting);
        _running.WithLabels(_model).Set(s.RequestsRunning);
        long used = 0, total = 0;
        foreach (var i in s.Instances)
        {
            _kvUsed.WithLabels(_model, i.Name, i.Role).Set(i.KvBlocksUsed);
            _kvTotal.WithLabels(_model, i.Name, i.Role).Set(i.KvBlocksTotal);
            _instanceWaiting.WithLabels(_model, i.Name, i.Role).Set(i.Waiting);
            _instanceRunning.WithLabels(_model, i.Name, i.Role).Set(i.Running);
            used += i.KvBlocksUsed;
            total += i.KvBlocksTotal;
        }
        _kvUsage.WithLabels(_model).Set(total == 0 ? 0 : (double)used / total);
        if (AdmissionWaiting is { } waiting) _admittedWaiting.WithLabels(_model).Set(waiting());
        _prefixQueries.WithLabels(_model).IncTo(s.Instances.Sum(i => i.PrefixCacheQueries));
        _prefixHits.WithLabels(_model).IncTo(s.Instances.Sum(i => i.PrefixCacheHits));
        if (s.KvDisk is { } disk)
        {
            _diskHits.WithLabels(_model).IncTo(disk.Hits);
            _diskMisses.WithLabels(_model).IncTo(disk.Misses);
            _diskCorrupt.WithLabels(_model).IncTo(disk.Corrupt);
            _diskRead.WithLabels(_model).IncTo(disk.BytesRead);
            _diskWritten.WithLabels(_model).IncTo(disk.BytesWritten);
            _diskDropped.WithLabels(_model).IncTo(disk.WritesDropped);
            _diskEvictions.WithLabels(_model).IncTo(disk.Evictions);
            _diskBytes.WithLabels(_model).Set(disk.Bytes);
            _diskBlocks.WithLabels(_model).Set(disk.Blocks);
        }
        if (_replanner?.Status is { } plan)
        {
            _replans.WithLabels(_model).Set(plan.Replans);
            _changeRecommended.WithLabels(_model).Set(plan.ChangeRecommended ? 1 : 0);
            _recommendedDevices.WithLabels(_model).Set((plan.Recommended ?? plan.Current).Devices);
            _observedRate.WithLabels(_model).Set(plan.Observed?.Rate ?? 0);
        }
    }
}
